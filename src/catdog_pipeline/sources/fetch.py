"""`fetch_source`: make a dataset source available locally, through a verified download cache."""

import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from catdog_pipeline.sources import cache, gdrive, http, local
from catdog_pipeline.sources.errors import DamagedFileError, SourceError
from catdog_pipeline.sources.limits import NO_LIMITS, Limits
from catdog_pipeline.sources.redact import redact_url

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"[0-9a-f]{64}")
T = TypeVar("T")
Use = Callable[[Path, str], T]


def _as_is(path: Path, _: str) -> Path:
    return path


def fetch_source(
    source: str,
    *,
    sha256: str | None,
    cache_dir: Path,
    progress: bool = True,
    limits: Limits = NO_LIMITS,
    use: Use = _as_is,
) -> T:
    """Make `source` available locally and return `use(path, description)` (default: the path).

    `source` is a Google Drive link or `gdrive://<id>`, an http(s) URL, or a local path
    (`~` and `file://` accepted; used in place, made absolute). Downloads are cached in
    `cache_dir/<key>/` and reused without network access. `sha256` (hex) is checked for
    files; a download that fails it is deleted. It is refused for directories. `use` reads
    the file (`description` names it for messages, e.g. "The file downloaded from <url>"); if
    it raises DamagedFileError on a download, the cache entry is discarded, and a cached copy
    is downloaded again once. Credentials in `source` never appear in messages, logs or the
    cache (see `redact_url`).
    """
    source = source.strip()
    if not source:
        raise SourceError("ingest.source is empty: set it in params.yaml.")
    expected = _expected_sha256(sha256)
    drive = gdrive.parse_drive_source(source)
    if drive is not None:
        if expected and drive.kind == "folder":
            raise _sha256_for_directory(source)

        def download(entry: Path) -> Path:
            return gdrive.download(drive, source, entry, progress=progress, limits=limits)

    elif urlsplit(source).scheme in ("http", "https"):
        if redact_url(source) != source:
            log.warning(
                "ingest.source %s carries a user name or password: params.yaml, dvc.lock and "
                "MLflow keep it as written. Put it in ~/.netrc (or the file $NETRC names) "
                "instead and drop it from the URL.",
                redact_url(source),
            )

        def download(entry: Path) -> Path:
            return http.download(source, entry, progress=progress, limits=limits)

    else:
        path = local.resolve_local(source)
        if expected:
            _verify(path, expected, source, downloaded=False)
        return use(path, str(path))
    return _fetch_remote(redact_url(source), expected, Path(cache_dir), download, use)


def _fetch_remote(
    shown: str, expected: str | None, cache_dir: Path, download: Callable[[Path], Path], use: Use
) -> T:
    entry = cache.entry_dir(cache_dir, shown)
    path = cache.lookup(entry, shown, expected)
    if path is not None:
        log.info("Using cached download of %s: %s", shown, path)
        try:
            return _use(path, expected, shown, f"The cached download of {shown}", use)
        except DamagedFileError as exc:
            log.warning("Discarded the cached download of %s, fetching it again: %s", shown, exc)
            _discard(entry)
    path = download(entry)
    digest = None
    if path.is_file() and expected:
        digest = _verify(path, expected, shown, downloaded=True)
    elif path.is_file():
        digest = cache.file_sha256(path)
        log.info("Downloaded %s (sha256 %s); set ingest.sha256 to pin it.", path, digest)
    cache.commit(entry, shown, path, digest)
    try:
        return _use(path, expected, shown, f"The file downloaded from {shown}", use)
    except DamagedFileError as exc:
        _discard(entry)
        raise DamagedFileError(
            f"{exc} The download was deleted, so the next run fetches it again."
        ) from exc


def _use(path: Path, expected: str | None, shown: str, description: str, use: Use) -> T:
    if expected and path.is_dir():  # a Drive id that turned out to be a folder
        raise _sha256_for_directory(shown)
    return use(path, description)


def _discard(entry: Path) -> None:
    """Delete a cache entry (payload, metadata and partial files)."""
    shutil.rmtree(entry, ignore_errors=True)


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
        f"ingest.sha256 is set, but {redact_url(source)} is a directory and a checksum applies "
        "to a single file. Set `ingest.sha256: null` in params.yaml, or point `ingest.source` "
        "at an archive."
    )
