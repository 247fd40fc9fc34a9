"""Resumable HTTP(S) downloads with `requests` into a cache entry."""

import os
import re
import sys
from email.message import Message
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import requests
from tqdm import tqdm

from catdog_pipeline.sources.cache import META_NAME
from catdog_pipeline.sources.errors import SourceError

_CHUNK = 256 * 1024
_TIMEOUT = (15, 60)  # seconds to connect, and between bytes
_ATTEMPTS = 3
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(?:\d+|\*)")


def download(url: str, entry: Path, *, progress: bool) -> Path:
    """Download `url` to `entry/<filename>` through `entry/<filename>.part`; return the file.

    An existing `.part` is resumed with a Range request if the server answers 206 and
    restarted if it answers 200. A dropped connection is resumed up to 3 times per call;
    after that the `.part` stays for the next call.
    """
    entry.mkdir(parents=True, exist_ok=True)
    error: Exception | None = None
    for _ in range(_ATTEMPTS):
        part = _partial_file(entry)
        offset = part.stat().st_size if part else 0
        headers = {"Accept-Encoding": "identity"}  # byte offsets must match the bytes on disk
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            with requests.get(url, headers=headers, stream=True, timeout=_TIMEOUT) as response:
                if response.status_code == 416 and part:  # the .part is already whole or bogus
                    part.unlink()
                    continue
                _raise_for_status(url, response)
                name = filename_from(response, url)
                target = entry / f"{name}.part"
                resumed = part == target and _starts_at(response) == offset
                if part and not resumed:
                    part.unlink()
                if response.status_code == 206 and not resumed:
                    continue  # an unusable range: ask again for the whole file
                _save(response, target, offset if resumed else 0, progress)
        except requests.RequestException as exc:
            error = exc
            continue
        final = entry / name
        os.replace(target, final)
        return final
    raise SourceError(
        f"Could not download {url}: {error or 'the server sent unusable byte ranges'}. "
        "Check the network connection and `ingest.source` in params.yaml, then run again: "
        f"the partial download in {entry} is resumed."
    )


def filename_from(response: requests.Response, url: str) -> str:
    """Content-Disposition's filename, else the URL path's last component, else `download`."""
    header = Message()
    header["Content-Disposition"] = response.headers.get("Content-Disposition", "")
    raw = header.get_filename() or unquote(PurePosixPath(urlsplit(url).path).name)
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return "download" if name in ("", ".", "..", META_NAME) else name


def _partial_file(entry: Path) -> Path | None:
    """The newest `.part` file in `entry`; older ones are deleted."""
    parts = sorted(entry.glob("*.part"), key=lambda p: p.stat().st_mtime)
    for stale in parts[:-1]:
        stale.unlink()
    return parts[-1] if parts else None


def _starts_at(response: requests.Response) -> int | None:
    """First byte offset of a 206 response, None for any other response."""
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
    return int(match[1]) if response.status_code == 206 and match else None


def _raise_for_status(url: str, response: requests.Response) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    if status in (401, 403):
        advice = (
            "the server refuses access: download the file by hand and set "
            "`ingest.source` in params.yaml to its local path"
        )
    elif 400 <= status < 500:
        advice = "the URL is wrong or the file was removed: fix `ingest.source` in params.yaml"
    else:
        advice = "the server had a problem: try again later"
    raise SourceError(f"Downloading {url} failed with HTTP {status} {response.reason}; {advice}.")


def _save(response: requests.Response, target: Path, offset: int, progress: bool) -> None:
    length = response.headers.get("Content-Length", "")
    total = offset + int(length) if length.isdigit() else None
    bar = tqdm(
        total=total,
        initial=offset,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=target.name.removesuffix(".part"),
        file=sys.stderr,
        disable=not progress,
    )
    with bar, target.open("ab" if offset else "wb") as out:
        for chunk in response.iter_content(_CHUNK):
            out.write(chunk)
            bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
