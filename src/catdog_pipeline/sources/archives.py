"""Safe extraction of zip and tar archives: no escaping paths, outward links or special files."""

import gzip
import logging
import lzma
import shutil
import stat
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

from tqdm import tqdm

from catdog_pipeline.sources.diagnose import damaged, not_an_archive
from catdog_pipeline.sources.entries import (
    Member,
    Plan,
    Rejected,
    RejectedEntry,
    declared_bytes,
    link_target,
    split,
)
from catdog_pipeline.sources.errors import SourceError

log = logging.getLogger(__name__)
_CHUNK = 1024 * 1024
_MAX_LINK = 4096


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
    archive: Path,
    target: Path,
    *,
    max_total_bytes: int,
    progress: bool = True,
    name: str | None = None,
) -> ExtractionReport:
    """Extract a zip or tar (plain, gz, bz2, xz) archive into `target` (created).

    Members with absolute paths or `..` components, links pointing outside `target`, and
    devices/fifos are rejected (reported, never written), and so are names that are not UTF-8,
    nested deeper than 100 folders or too long for a file system, and second entries of one
    name. Links that stay inside are materialised as copies of their target when it is a
    regular file of the archive, and skipped otherwise (with a warning). No link is ever
    created on disk. Uncompressed sizes are capped at `max_total_bytes`, both as declared
    (checked before writing) and as streamed; on overflow a SourceError is raised and what was
    written so far stays in `target`. A file that is no archive, or a truncated or corrupt one,
    raises DamagedFileError; `name` describes the archive in messages (default: its path).
    """
    archive, target = Path(archive), Path(target)
    name = name or str(archive)
    if archive.is_file() and tarfile.is_tarfile(archive):
        extract = _extract_tar
    elif archive.is_file() and zipfile.is_zipfile(archive):
        extract = _extract_zip
    else:
        raise not_an_archive(archive, name)
    try:
        target.mkdir(parents=True, exist_ok=True)
        return extract(archive, target, _Budget(name, max_total_bytes), progress)
    except UnicodeDecodeError as exc:  # zipfile decoding a name flagged as UTF-8
        raise SourceError(
            f"{name} ({archive}) is a zip that marks the name of an entry ({exc.object!r}) as "
            "UTF-8, but the name is not UTF-8, so the archive cannot be read. Re-create it "
            "(`zip -r` on Linux, or 7-Zip), or extract it by hand and set `ingest.source` in "
            "params.yaml to the folder."
        ) from exc
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError) as exc:
        raise damaged(archive, name, exc) from exc
    except gzip.BadGzipFile as exc:
        raise damaged(archive, name, exc) from exc
    except OSError as exc:
        raise SourceError(
            f"Extracting {name} into {target} failed: {exc}. The disk may be full or the "
            "folder not writable; free space (or set CATDOG_STAGING_DIR) and run again."
        ) from exc


@dataclass
class _Budget:
    archive: str
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


def _extract_zip(archive: Path, target: Path, budget: _Budget, progress: bool) -> ExtractionReport:
    with zipfile.ZipFile(archive) as zf:
        plan = Plan()
        for info in zf.infolist():
            if info.flag_bits & 0x1:
                raise SourceError(
                    f"{budget.archive} is password-protected ({info.filename}); provide an "
                    "unencrypted archive via `ingest.source` in params.yaml."
                )
            plan.add(info.filename, partial(_zip_member, zf, info))
        members = plan.settle()
        budget.check_declared(declared_bytes(members))
        written: set[tuple[str, ...]] = set()
        for member in _progress(members, f"Extracting {archive.name}", progress):
            dest = target.joinpath(*member.parts)
            if member.kind == "dir":
                dest.mkdir(parents=True, exist_ok=True)
            elif member.kind == "file":
                with zf.open(member.key) as source:
                    budget.copy(source, dest)
                written.add(member.parts)
    return _finish(plan, members, written, target, budget)


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Member:
    parts = split(info.filename)
    # Unix mode bits are only meaningful in zips made on Unix (create_system 3).
    mode = info.external_attr >> 16 if info.create_system == 3 else 0
    if info.is_dir() or stat.S_ISDIR(mode):
        return Member(info, parts, "dir")
    if stat.S_ISLNK(mode):
        with zf.open(info) as f:
            linkname = f.read(_MAX_LINK).decode("utf-8", "surrogateescape")
        link = link_target(parts, linkname, relative_to_member=True)
        return Member(info, parts, "link", link=link)
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        raise Rejected("special_file")
    return Member(info, parts, "file", size=info.file_size)


def _extract_tar(archive: Path, target: Path, budget: _Budget, progress: bool) -> ExtractionReport:
    # Two sequential passes ("r|*": no seeking, so a .tar.gz is never re-decompressed per member).
    plan, count = Plan(), 0
    with tarfile.open(archive, "r|*") as tf:
        for count, info in enumerate(tf, start=1):
            plan.add(info.name, partial(_tar_member, count, info))
    members = plan.settle()
    budget.check_declared(declared_bytes(members))
    to_write = {m.key: m for m in members}
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
    return _finish(plan, members, written, target, budget)


def _tar_member(position: int, info: tarfile.TarInfo) -> Member:
    parts = split(info.name)
    if info.isdir():
        return Member(position, parts, "dir")
    if info.issym() or info.islnk():
        link = link_target(parts, info.linkname, relative_to_member=info.issym())
        return Member(position, parts, "link", link=link)
    if not info.isreg():
        raise Rejected("special_file")
    return Member(position, parts, "file", size=info.size)


def _finish(
    plan: Plan,
    members: list[Member],
    written: set[tuple[str, ...]],
    target: Path,
    budget: _Budget,
) -> ExtractionReport:
    """Materialise inside links as copies of the files they point to, then report."""
    copies = 0
    for member in (m for m in members if m.kind == "link"):
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
