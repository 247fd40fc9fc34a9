"""Local sources: a path, `~/...` or a `file://` URL; folders are copied without leaving them."""

import errno
import logging
import os
import shutil
import stat
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from catdog_pipeline.sources.entries import RejectedEntry, name_problem, printable
from catdog_pipeline.sources.errors import SourceError
from catdog_pipeline.sources.redact import redact_url

log = logging.getLogger(__name__)


def resolve_local(source: str) -> Path:
    """The absolute path of the existing file or directory `source` names."""
    parts, shown = urlsplit(source), redact_url(source)
    if parts.scheme == "file":
        # file:///abs/path; file://rel/path and file://~/path are read as written.
        host = parts.netloc if parts.netloc not in ("", "localhost") else ""
        path = Path(url2pathname(host + parts.path)).expanduser()
    elif "://" in source:
        raise SourceError(
            f"ingest.source {shown!r} uses the unsupported scheme {parts.scheme!r}. "
            "Use a Google Drive link, gdrive://<id>, an http(s) URL or a local path "
            "in params.yaml."
        )
    else:
        path = Path(source).expanduser()
    if not path.exists():
        raise SourceError(
            f"ingest.source {shown!r} does not exist (looked for {path.absolute()}). "
            "Fix `ingest.source` in params.yaml: an existing local archive or directory, "
            "a Google Drive link, gdrive://<id>, or an http(s) URL."
        )
    if not (path.is_file() or path.is_dir()):
        raise SourceError(
            f"ingest.source {shown!r} is neither a file nor a folder (a fifo, socket or "
            "device). Set `ingest.source` in params.yaml to an archive or a folder."
        )
    return path.absolute()


def copy_folder(source: Path, target: Path) -> tuple[RejectedEntry, ...]:
    """Copy the regular files under folder `source` into `target`; return what was refused.

    Links are followed only to files inside `source` (copied); links leading outside it,
    dangling links, link loops and links to folders are rejected, and so are fifos, sockets
    and devices (never opened for reading, so nothing blocks) and names `safe_extract` would
    refuse. Nothing outside `source` is ever read.
    """
    root, rejected = Path(os.path.realpath(source)), []
    pending: list[tuple[str, ...]] = [()]
    while pending:  # iterative: a deep tree cannot exhaust the stack
        folder = pending.pop()
        target.joinpath(*folder).mkdir(parents=True, exist_ok=True)
        try:
            entries = sorted(os.scandir(root.joinpath(*folder)), key=lambda e: e.name)
        except OSError as exc:
            raise _unreadable(str(root.joinpath(*folder)), exc) from exc
        for entry in entries:
            parts = (*folder, entry.name)
            reason = name_problem(parts) or _copy_entry(root, entry, parts, target, pending)
            if reason:
                shown = printable("/".join(parts))
                log.warning("Skipped %s in %s: %s", shown, source, _REASONS.get(reason, reason))
                rejected.append(RejectedEntry(shown, reason))
    return tuple(rejected)


_REASONS = {
    "link_outside_target": "a link leading outside the source folder",
    "link_loop": "a link loop",
    "broken_link": "a link to nothing",
    "link_to_folder": "a link to a folder (not followed)",
    "special_file": "not a regular file (a fifo, socket or device)",
}


def _copy_entry(
    root: Path, entry: os.DirEntry, parts: tuple[str, ...], target: Path, pending: list
) -> str | None:
    """Copy one entry (or queue a folder); the reason it is refused, or None."""
    path = entry.path
    if entry.is_symlink():
        try:
            path = os.path.realpath(entry.path, strict=True)
        except OSError as exc:
            return "link_loop" if exc.errno == errno.ELOOP else "broken_link"
        if not Path(path).is_relative_to(root):
            return "link_outside_target"
        if os.path.isdir(path):
            return "link_to_folder"
    elif entry.is_dir(follow_symlinks=False):
        pending.append(parts)
        return None
    if not stat.S_ISREG(os.stat(path, follow_symlinks=False).st_mode):
        return "special_file"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # swapped for a link or a socket meanwhile
            return "special_file"
        raise _unreadable(path, exc) from exc
    with os.fdopen(fd, "rb") as source:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "special_file"
        with target.joinpath(*parts).open("wb") as out:
            shutil.copyfileobj(source, out, 1024 * 1024)
    return None


def _unreadable(path: str, exc: OSError) -> SourceError:
    return SourceError(
        f"Cannot read {path} in the source folder: {exc.strerror}. Fix its permissions or "
        "remove it, or set `ingest.source` in params.yaml to another folder."
    )
