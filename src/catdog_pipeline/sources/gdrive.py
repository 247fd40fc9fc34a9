"""Google Drive sources: parse share links, download files or folders with `gdown`."""

import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import gdown
import requests

from catdog_pipeline.sources.errors import SourceError
from catdog_pipeline.sources.limits import NO_LIMITS, Limits

_HOSTS = frozenset({"drive.google.com", "docs.google.com", "drive.usercontent.google.com"})
_FILE_PATH = re.compile(r"/file/(?:u/\d+/)?d/([^/]+)")
_FOLDER_PATH = re.compile(r"/drive/(?:u/\d+/)?folders/([^/]+)")
_ID = re.compile(r"[-\w]+")
_QUOTA = "Too many users have viewed or downloaded this file recently"
_TIMEOUT = 60  # seconds between bytes
_RETRIES = 2  # gdown resumes a dropped transfer this many times


@dataclass(frozen=True)
class DriveRef:
    """A Drive id; `kind` is "unknown" when the source does not tell a file from a folder."""

    id: str
    kind: Literal["file", "folder", "unknown"]


def parse_drive_source(source: str) -> DriveRef | None:
    """The Drive file or folder `source` names, or None if it is not a Google Drive source.

    Accepts `gdrive://<id>` and drive.google.com links: `/file/d/<id>/...`, `/open?id=<id>`,
    `/uc?id=<id>` and `/drive/folders/<id>`.
    """
    if source.startswith("gdrive://"):
        return DriveRef(_checked_id(source.removeprefix("gdrive://").strip("/"), source), "unknown")
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https") or parts.hostname not in _HOSTS:
        return None
    if match := _FOLDER_PATH.match(parts.path):
        return DriveRef(_checked_id(match[1], source), "folder")
    if match := _FILE_PATH.match(parts.path):
        return DriveRef(_checked_id(match[1], source), "file")
    if ids := parse_qs(parts.query).get("id"):
        kind = "unknown" if parts.path.rstrip("/") == "/open" else "file"
        return DriveRef(_checked_id(ids[0], source), kind)
    raise SourceError(
        f"Cannot find a file or folder id in the Google Drive link {source!r}. Set "
        "`ingest.source` in params.yaml to a share link (https://drive.google.com/file/d/<id>/"
        "view or .../drive/folders/<id>) or to gdrive://<id>."
    )


def download(
    ref: DriveRef, source: str, entry: Path, *, progress: bool, limits: Limits = NO_LIMITS
) -> Path:
    """Download `ref` into `entry` and return the file or, for a folder, the directory.

    A `ref` of unknown kind is tried as a file first, then as a folder. A file is held to
    `limits` (a folder's files only to the timeout between bytes: gdown offers no more).
    """
    entry.mkdir(parents=True, exist_ok=True)
    try:
        if ref.kind != "folder":
            try:
                return _download_file(ref.id, source, entry, progress, limits)
            except gdown.FileURLRetrievalError as exc:
                if ref.kind == "file" or _QUOTA in _reason(exc):
                    raise
        return _download_folder(ref.id, source, entry, progress)
    except (gdown.DownloadError, requests.RequestException) as exc:
        raise _failure(source, entry, exc) from exc


def _download_file(file_id: str, source: str, entry: Path, progress: bool, limits: Limits) -> Path:
    staging = entry / ".gdrive-file"  # gdown keeps its partial file here; a rerun resumes it
    received = 0

    def check(done: int, total: int | None) -> None:
        nonlocal received
        received = done
        if total is not None:
            limits.check_size(source, total, declared=True)
        limits.check_size(source, done, declared=False)

    cancel = threading.Event()  # set at the deadline: gdown then stops reading
    deadline = threading.Timer(limits.timeout_s or 0, cancel.set)
    if limits.timeout_s is not None:
        deadline.start()
    try:
        out = gdown.download(
            id=file_id,
            output=f"{staging}{os.sep}",
            quiet=not progress,
            use_cookies=False,
            resume=True,
            timeout=_TIMEOUT,
            retries=_RETRIES,
            progress=check,
            cancel=cancel,
        )
    except gdown.DownloadCancelled as exc:
        raise limits.too_slow(source, received) from exc
    except SourceError:  # over the size cap: nothing is kept for a resume
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        deadline.cancel()
    final = entry / Path(out).name
    os.replace(out, final)
    shutil.rmtree(staging)
    return final


def _download_folder(folder_id: str, source: str, entry: Path, progress: bool) -> Path:
    staging = entry / ".gdrive-folder"  # files already complete here are skipped on a rerun
    files = gdown.download_folder(
        id=folder_id,
        output=f"{staging}{os.sep}",
        quiet=not progress,
        use_cookies=False,
        resume=True,
        timeout=_TIMEOUT,
        retries=_RETRIES,
    )
    if not files:  # Drive showed a sign-in page, or the folder is empty
        shutil.rmtree(staging, ignore_errors=True)
        raise _not_public(source)
    root = staging / Path(files[0]).relative_to(staging).parts[0]
    final = entry / root.name
    if final.exists():
        shutil.rmtree(final)
    os.replace(root, final)
    shutil.rmtree(staging)
    return final


def _failure(source: str, entry: Path, exc: Exception) -> SourceError:
    reason = _reason(exc)
    if _QUOTA in reason:
        return SourceError(
            f"Google Drive refuses to serve {source} for now ({_QUOTA}: the daily download "
            "quota of the file is used up). Wait up to 24 h and run again; or open the link, "
            "'Make a copy' into your own Drive and set `ingest.source` to gdrive://<id of the "
            "copy>; or download it by hand in a browser and set `ingest.source` in params.yaml "
            "to the local file."
        )
    if isinstance(exc, gdown.FileURLRetrievalError) or "folder contents" in reason:
        return _not_public(source)
    return SourceError(
        f"Downloading {source} from Google Drive failed: {reason}. Run again to resume "
        f"(partial data is kept in {entry}; delete that directory if this keeps failing). If "
        "Drive keeps refusing files (download quota), wait up to 24 h or download by hand and "
        "set `ingest.source` in params.yaml to the local path."
    )


def _not_public(source: str) -> SourceError:
    return SourceError(
        f"Google Drive gives no public access to {source}: it is private, deleted, needs "
        "signing in, or is an empty folder. Ask the owner to share it as 'Anyone with the "
        "link', or download it by hand and set `ingest.source` in params.yaml to the local path."
    )


def _reason(exc: Exception) -> str:
    """The exception's message on one line (gdown wraps its messages)."""
    return " ".join(str(exc).split())


def _checked_id(drive_id: str, source: str) -> str:
    if not _ID.fullmatch(drive_id):
        raise SourceError(
            f"{drive_id!r} in ingest.source {source!r} is not a Google Drive id (letters, "
            "digits, '-' and '_'). Copy the id from the share link into params.yaml."
        )
    return drive_id
