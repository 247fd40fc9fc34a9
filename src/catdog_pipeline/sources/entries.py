"""Archive entries as paths to write, or as entries rejected with a reason."""

import logging
import posixpath
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PureWindowsPath
from typing import Literal

log = logging.getLogger(__name__)
MAX_DEPTH = 100  # folders; deeper trees break recursive tools (pathlib, shutil) downstream
MAX_NAME_BYTES = 255  # per path component, the usual file system limit


@dataclass(frozen=True)
class RejectedEntry:
    """An archive member that was not written. `reason` is one of "absolute_path",
    "parent_traversal", "link_outside_target", "special_file", "duplicate_entry",
    "bad_name" (not UTF-8), "too_deep" or "name_too_long"."""

    name: str
    reason: str


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)  # slots: no __dict__ per member of a large archive
class Member:
    """A member to write: `parts` is its path below the target; `link` a link's target path."""

    key: object  # zipfile.ZipInfo, or a tar member's position in the archive
    parts: tuple[str, ...]
    kind: Literal["dir", "file", "link"]
    size: int = 0
    link: tuple[str, ...] = ()


@dataclass
class Plan:
    members: list[tuple[str, Member]] = field(default_factory=list)  # (entry name, member)
    rejected: list[RejectedEntry] = field(default_factory=list)

    def add(self, name: str, build: Callable[[], Member]) -> None:
        """Plan the member `build()` describes, or record why entry `name` is rejected."""
        try:
            member = build()
        except Rejected as rejection:
            self.reject(name, rejection.reason)
            return
        if member.parts:  # "." or "./" is the target itself
            self.members.append((name, member))

    def reject(self, name: str, reason: str) -> None:
        shown = printable(name)
        if reason in NAMED_REASONS:
            log.warning("Skipped archive entry %r: %s", shown, NAMED_REASONS[reason])
        self.rejected.append(RejectedEntry(shown, reason))

    def settle(self) -> list[Member]:
        """The members to write: a second entry of one path, or a file where a folder must
        be, is rejected as a duplicate (the first one is kept, never overwritten)."""
        folders = {m.parts[:i] for _, m in self.members for i in range(1, len(m.parts))}
        folders |= {m.parts for _, m in self.members if m.kind == "dir"}
        taken: set[tuple[str, ...]] = set()
        kept = []
        for name, member in self.members:
            if member.kind != "dir" and (member.parts in taken or member.parts in folders):
                self.reject(name, "duplicate_entry")
                continue
            taken.add(member.parts)
            kept.append(member)
        return kept


NAMED_REASONS = {
    "duplicate_entry": "a second entry with the same path (the first is kept)",
    "bad_name": "its name is not UTF-8",
    "too_deep": f"nested deeper than {MAX_DEPTH} folders",
    "name_too_long": f"a path component is longer than {MAX_NAME_BYTES} bytes",
}


def printable(name: str) -> str:
    """`name` as valid UTF-8 text: undecodable bytes (kept by tarfile/os) shown as \\xNN."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def declared_bytes(members: list[Member]) -> int:
    """Bytes the members unpack to, inside links counted as the files they copy."""
    sizes = {m.parts: m.size for m in members if m.kind == "file"}
    return sum(m.size for m in members) + sum(
        sizes.get(m.link, 0) for m in members if m.kind == "link"
    )


def split(name: str) -> tuple[str, ...]:
    """The path components of member `name`; raises Rejected for unsafe names."""
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        raise Rejected("absolute_path")
    parts = tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
    parts = (*map(sys.intern, parts[:-1]), *parts[-1:])  # members share their folders' strings
    if ".." in parts:
        raise Rejected("parent_traversal")
    if problem := name_problem(parts):
        raise Rejected(problem)
    return parts


def name_problem(parts: tuple[str, ...]) -> str | None:
    """Why a path (its components) must not be written, or None: "bad_name" (not UTF-8),
    "too_deep" or "name_too_long"."""
    try:
        encoded = [part.encode("utf-8") for part in parts]
    except UnicodeEncodeError:
        return "bad_name"
    if len(parts) > MAX_DEPTH:
        return "too_deep"
    return "name_too_long" if any(len(e) > MAX_NAME_BYTES for e in encoded) else None


def link_target(
    parts: tuple[str, ...], linkname: str, *, relative_to_member: bool
) -> tuple[str, ...]:
    """Archive path a link points to (symlinks: from the member's directory; hardlinks: from
    the archive root), or Rejected when it leaves the archive root."""
    linkname = linkname.replace("\\", "/")
    if linkname.startswith("/") or PureWindowsPath(linkname).drive:
        raise Rejected("link_outside_target")
    base = "/".join(parts[:-1]) if relative_to_member else ""
    resolved = posixpath.normpath(posixpath.join(base, linkname))
    if resolved == ".." or resolved.startswith("../"):
        raise Rejected("link_outside_target")
    return tuple(p for p in resolved.split("/") if p != ".")
