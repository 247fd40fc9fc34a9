"""Safe extraction of zip and tar archives: no escaping paths, outward links or special files."""

import logging
import posixpath
import shutil
import stat
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import IO, Literal

from tqdm import tqdm

from catdog_pipeline.sources.errors import SourceError

log = logging.getLogger(__name__)
_CHUNK = 1024 * 1024
_MAX_LINK = 4096


@dataclass(frozen=True)
class RejectedEntry:
    """An archive member that was not written. `reason` is one of "absolute_path",
    "parent_traversal", "link_outside_target" or "special_file"."""

    name: str
    reason: str


@dataclass(frozen=True)
class ExtractionReport:
    """Files written (links materialised as copies included) and members rejected."""

    extracted_files: int
    rejected: tuple[RejectedEntry, ...]


def is_archive(path: Path) -> bool:
    """True for a zip or (optionally compressed) tar file, judged by content, not by name."""
    path = Path(path)
    return path.is_file() and (tarfile.is_tarfile(path) or zipfile.is_zipfile(path))


def safe_extract(
    archive: Path, target: Path, *, max_total_bytes: int, progress: bool = True
) -> ExtractionReport:
    """Extract a zip or tar (plain, gz, bz2, xz) archive into `target` (created).

    Members with absolute paths or `..` components, links pointing outside `target`, and
    devices/fifos are rejected (reported, never written). Links that stay inside are
    materialised as copies of their target when it is a regular file of the archive, and
    skipped otherwise (with a warning). No link is ever created on disk. Uncompressed sizes are
    capped at `max_total_bytes`, both as declared (checked before writing) and as streamed; on
    overflow a SourceError is raised and what was written so far stays in `target`.
    """
    archive, target = Path(archive), Path(target)
    try:
        if archive.is_file() and tarfile.is_tarfile(archive):
            extract = _extract_tar
        elif archive.is_file() and zipfile.is_zipfile(archive):
            extract = _extract_zip
        else:
            raise SourceError(
                f"{archive} is not a zip or tar archive (or does not exist). Point "
                "`ingest.source` in params.yaml at a .zip/.tar/.tar.gz file or a directory."
            )
        target.mkdir(parents=True, exist_ok=True)
        return extract(archive, target, _Budget(archive, max_total_bytes), progress)
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise SourceError(
            f"Extracting {archive} into {target} failed: {exc}. The archive may be corrupt or "
            "truncated (delete it and download it again) or the disk may be full."
        ) from exc


class _Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Member:
    """A member to write: `parts` is its path below the target; `link` a link's target path."""

    key: object  # zipfile.ZipInfo, or a tar member's position in the archive
    parts: tuple[str, ...]
    kind: Literal["dir", "file", "link"]
    size: int = 0
    link: tuple[str, ...] = ()


@dataclass
class _Plan:
    members: list[_Member] = field(default_factory=list)
    rejected: list[RejectedEntry] = field(default_factory=list)

    def add(self, member: _Member) -> None:
        if member.parts:  # "." or "./" is the target itself
            self.members.append(member)

    def declared_bytes(self) -> int:
        sizes = {m.parts: m.size for m in self.members if m.kind == "file"}
        return sum(m.size for m in self.members) + sum(
            sizes.get(m.link, 0) for m in self.members if m.kind == "link"
        )


@dataclass
class _Budget:
    archive: Path
    cap: int
    used: int = 0

    def check_declared(self, declared: int) -> None:
        if declared > self.cap:
            raise self._exceeded(f"declares {declared} bytes")

    def copy(self, source: IO[bytes], dest: Path) -> None:
        """Stream `source` into `dest`, counting every byte against the cap."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        with dest.open("wb") as out:
            shutil.copyfileobj(_CountingReader(source, self), out, _CHUNK)

    def spend(self, count: int) -> None:
        self.used += count
        if self.used > self.cap:
            raise self._exceeded(f"unpacks to more than {self.cap} bytes")

    def _exceeded(self, what: str) -> SourceError:
        return SourceError(
            f"{self.archive} {what}, over the limit of {self.cap} bytes. If the archive is "
            "expected to be this large, raise `ingest.max_uncompressed_bytes` in params.yaml."
        )


class _CountingReader:
    def __init__(self, raw: IO[bytes], budget: _Budget) -> None:
        self._raw, self._budget = raw, budget

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._budget.spend(len(data))
        return data


def _split(name: str) -> tuple[str, ...]:
    """The path components of member `name`; raises _Rejected for unsafe names."""
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        raise _Rejected("absolute_path")
    parts = tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
    if ".." in parts:
        raise _Rejected("parent_traversal")
    return parts


def _link_target(
    parts: tuple[str, ...], linkname: str, *, relative_to_member: bool
) -> tuple[str, ...]:
    """Archive path a link points to (symlinks: from the member's directory; hardlinks: from
    the archive root), or _Rejected when it leaves the archive root."""
    linkname = linkname.replace("\\", "/")
    if linkname.startswith("/") or PureWindowsPath(linkname).drive:
        raise _Rejected("link_outside_target")
    base = "/".join(parts[:-1]) if relative_to_member else ""
    resolved = posixpath.normpath(posixpath.join(base, linkname))
    if resolved == ".." or resolved.startswith("../"):
        raise _Rejected("link_outside_target")
    return tuple(p for p in resolved.split("/") if p != ".")


def _extract_zip(archive: Path, target: Path, budget: _Budget, progress: bool) -> ExtractionReport:
    with zipfile.ZipFile(archive) as zf:
        plan = _Plan()
        for info in zf.infolist():
            if info.flag_bits & 0x1:
                raise SourceError(
                    f"{archive} is password-protected ({info.filename}); provide an unencrypted "
                    "archive via `ingest.source` in params.yaml."
                )
            try:
                plan.add(_zip_member(zf, info))
            except _Rejected as rejection:
                plan.rejected.append(RejectedEntry(info.filename, rejection.reason))
        budget.check_declared(plan.declared_bytes())
        written: set[tuple[str, ...]] = set()
        for member in _progress(plan.members, f"Extracting {archive.name}", progress):
            dest = target.joinpath(*member.parts)
            if member.kind == "dir":
                dest.mkdir(parents=True, exist_ok=True)
            elif member.kind == "file":
                with zf.open(member.key) as source:
                    budget.copy(source, dest)
                written.add(member.parts)
    return _finish(plan, written, target, budget)


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Member:
    parts = _split(info.filename)
    # Unix mode bits are only meaningful in zips made on Unix (create_system 3).
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    if info.is_dir() or stat.S_ISDIR(mode):
        return _Member(info, parts, "dir")
    if stat.S_ISLNK(mode):
        with zf.open(info) as f:
            linkname = f.read(_MAX_LINK).decode("utf-8", "surrogateescape")
        link = _link_target(parts, linkname, relative_to_member=True)
        return _Member(info, parts, "link", link=link)
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        raise _Rejected("special_file")
    return _Member(info, parts, "file", size=info.file_size)


def _extract_tar(archive: Path, target: Path, budget: _Budget, progress: bool) -> ExtractionReport:
    # Two sequential passes ("r|*": no seeking, so a .tar.gz is never re-decompressed per member).
    plan, count = _Plan(), 0
    with tarfile.open(archive, "r|*") as tf:
        for count, info in enumerate(tf, start=1):
            try:
                plan.add(_tar_member(count, info))
            except _Rejected as rejection:
                plan.rejected.append(RejectedEntry(info.name, rejection.reason))
    budget.check_declared(plan.declared_bytes())
    to_write = {m.key: m for m in plan.members}
    written: set[tuple[str, ...]] = set()
    with tarfile.open(archive, "r|*") as tf:
        entries = _progress(enumerate(tf, start=1), f"Extracting {archive.name}", progress, count)
        for position, info in entries:
            member = to_write.get(position)
            if member is None or member.kind == "link":
                continue
            dest = target.joinpath(*member.parts)
            if member.kind == "dir":
                dest.mkdir(parents=True, exist_ok=True)
                continue
            with tf.extractfile(info) as source:  # a file object for every regular file
                budget.copy(source, dest)
            written.add(member.parts)
    return _finish(plan, written, target, budget)


def _tar_member(position: int, info: tarfile.TarInfo) -> _Member:
    parts = _split(info.name)
    if info.isdir():
        return _Member(position, parts, "dir")
    if info.issym() or info.islnk():
        link = _link_target(parts, info.linkname, relative_to_member=info.issym())
        return _Member(position, parts, "link", link=link)
    if not info.isreg():
        raise _Rejected("special_file")
    return _Member(position, parts, "file", size=info.size)


def _finish(
    plan: _Plan, written: set[tuple[str, ...]], target: Path, budget: _Budget
) -> ExtractionReport:
    """Materialise inside links as copies of the files they point to, then report."""
    copies = 0
    for member in (m for m in plan.members if m.kind == "link"):
        if member.link not in written or member.link == member.parts:
            name = "/".join(member.parts)
            log.warning("Skipped link %s: it does not point to a file of the archive", name)
            continue
        with target.joinpath(*member.link).open("rb") as source:
            budget.copy(source, target.joinpath(*member.parts))
        copies += 1
    return ExtractionReport(len(written) + copies, tuple(plan.rejected))


def _progress(items: Iterable, desc: str, enabled: bool, total: int | None = None) -> tqdm:
    return tqdm(items, desc=desc, total=total, unit="entry", file=sys.stderr, disable=not enabled)
