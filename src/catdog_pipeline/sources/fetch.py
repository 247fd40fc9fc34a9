"""`fetch_source`: make a dataset source available locally, through a verified download cache."""

import logging
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from catdog_pipeline.sources import cache, gdrive, http, local
from catdog_pipeline.sources.errors import SourceError

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"[0-9a-f]{64}")


def fetch_source(
    source: str, *, sha256: str | None, cache_dir: Path, progress: bool = True
) -> Path:
    """Make `source` available locally and return its path: an archive file or a directory.

    `source` is a Google Drive link or `gdrive://<id>`, an http(s) URL, or a local path
    (`~` and `file://` accepted; returned in place, made absolute). Downloads are cached in
    `cache_dir/<key>/` and reused without network access. `sha256` (hex) is checked for
    files; a download that fails it is deleted. It is refused for directories.
    """
    source = source.strip()
    if not source:
        raise SourceError("ingest.source is empty: set it in params.yaml.")
    expected = _expected_sha256(sha256)
    drive = gdrive.parse_drive_source(source)
    if drive is not None:
        if expected and drive.kind == "folder":
            raise _sha256_for_directory(source)
        return _fetch_remote(
            source,
            expected,
            Path(cache_dir),
            lambda entry: gdrive.download(drive, source, entry, progress=progress),
        )
    if urlsplit(source).scheme in ("http", "https"):
        return _fetch_remote(
            source,
            expected,
            Path(cache_dir),
            lambda entry: http.download(source, entry, progress=progress),
        )
    path = local.resolve_local(source)
    if expected:
        _verify(path, expected, source, downloaded=False)
    return path


def _fetch_remote(
    source: str, expected: str | None, cache_dir: Path, download: Callable[[Path], Path]
) -> Path:
    entry = cache.entry_dir(cache_dir, source)
    path = cache.lookup(entry, source, expected)
    if path is not None:
        log.info("Using cached download of %s: %s", source, path)
    else:
        path = download(entry)
        digest = None
        if path.is_file() and expected:
            digest = _verify(path, expected, source, downloaded=True)
        elif path.is_file():
            digest = cache.file_sha256(path)
            log.info("Downloaded %s (sha256 %s); set ingest.sha256 to pin it.", path, digest)
        cache.commit(entry, source, path, digest)
    if expected and path.is_dir():
        raise _sha256_for_directory(source)
    return path


def _verify(path: Path, expected: str, source: str, *, downloaded: bool) -> str:
    """Check `path` against `expected`; a mismatching download is deleted."""
    if path.is_dir():
        raise _sha256_for_directory(source)
    actual = cache.file_sha256(path)
    if actual == expected:
        return actual
    if downloaded:
        path.unlink()
        raise SourceError(
            f"The file downloaded from {source} has sha256 {actual}, but ingest.sha256 expects "
            f"{expected}; the download was deleted. If the new file is trusted, set "
            f"`ingest.sha256: {actual}` in params.yaml."
        )
    raise SourceError(
        f"{path} has sha256 {actual}, but ingest.sha256 expects {expected}. If this file is "
        f"trusted, set `ingest.sha256: {actual}` in params.yaml; otherwise replace the file."
    )


def _expected_sha256(sha256: str | None) -> str | None:
    if not sha256:
        return None
    value = sha256.strip().lower().removeprefix("sha256:")
    if not _SHA256.fullmatch(value):
        raise SourceError(
            f"ingest.sha256 {sha256!r} is not a sha256 (64 hex digits). Fix it in params.yaml "
            "or set it to null to skip verification."
        )
    return value


def _sha256_for_directory(source: str) -> SourceError:
    return SourceError(
        f"ingest.sha256 is set, but {source} is a directory and a checksum applies to a single "
        "file. Set `ingest.sha256: null` in params.yaml, or point `ingest.source` at an archive."
    )
