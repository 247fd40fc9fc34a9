"""Resumable HTTP(S) downloads with `requests` into a cache entry, within size and time limits."""

import os
import re
import sys
import time
from email.message import Message
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from tqdm import tqdm

from catdog_pipeline.sources.cache import META_NAME
from catdog_pipeline.sources.errors import SourceError
from catdog_pipeline.sources.limits import NO_LIMITS, Limits
from catdog_pipeline.sources.redact import redact_url

_CHUNK = 256 * 1024
_CONNECT_TIMEOUT, _READ_TIMEOUT = 15, 60  # seconds to connect, and between bytes
_ATTEMPTS = 3
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(?:\d+|\*)")


def download(url: str, entry: Path, *, progress: bool, limits: Limits = NO_LIMITS) -> Path:
    """Download `url` to `entry/<filename>` through `entry/<filename>.part`; return the file.

    An existing `.part` is resumed with a Range request if the server answers 206 and
    restarted if it answers 200. A dropped connection is resumed up to 3 times per call;
    after that, or when `limits.timeout_s` runs out, the `.part` stays for the next call. A
    body over `limits.max_bytes` (declared or streamed) is refused and deleted. Credentials
    come from the URL or, without them, from ~/.netrc (or the file $NETRC names).
    """
    entry.mkdir(parents=True, exist_ok=True)
    clock = _Clock(url, limits)
    error: Exception | None = None
    for _ in range(_ATTEMPTS):
        part = _partial_file(entry)
        offset = part.stat().st_size if part else 0
        headers = {"Accept-Encoding": "identity"}  # byte offsets must match the bytes on disk
        if offset:
            headers["Range"] = f"bytes={offset}-"
        try:
            with requests.get(url, headers=headers, stream=True, timeout=clock.timeouts()) as reply:
                if reply.status_code == 416 and part:  # the .part is already whole or bogus
                    part.unlink()
                    continue
                _raise_for_status(url, reply)
                name = filename_from(reply, url)
                target = entry / f"{name}.part"
                resumed = part == target and _starts_at(reply) == offset
                if part and not resumed:
                    part.unlink()
                if reply.status_code == 206 and not resumed:
                    continue  # an unusable range: ask again for the whole file
                _save(reply, url, target, offset if resumed else 0, progress, limits, clock)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            error = exc
            continue
        final = entry / name
        os.replace(target, final)
        return final
    raise SourceError(
        f"Could not download {redact_url(url)}: "
        f"{redact_url(str(error)) if error else 'the server sent unusable byte ranges'}. "
        "Check the network connection and `ingest.source` in params.yaml, then run again: "
        f"the partial download in {entry} is resumed."
    )


class _Clock:
    """The overall deadline of one download."""

    def __init__(self, url: str, limits: Limits) -> None:
        self._url, self._limits = url, limits
        self._end = None if limits.timeout_s is None else time.monotonic() + limits.timeout_s

    def timeouts(self) -> tuple[float, float]:
        """Connect and read timeouts for the next request, never past the deadline."""
        if self._end is None:
            return _CONNECT_TIMEOUT, _READ_TIMEOUT
        self.check(0)
        left = self._end - time.monotonic()
        return min(_CONNECT_TIMEOUT, left), min(_READ_TIMEOUT, left)

    def check(self, received: int) -> None:
        if self._end is not None and time.monotonic() >= self._end:
            raise self._limits.too_slow(self._url, received)


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
            "the server refuses access: put the user name and password in ~/.netrc (or the "
            "file $NETRC names), or download the file by hand and set `ingest.source` in "
            "params.yaml to its local path"
        )
    elif 400 <= status < 500:
        advice = "the URL is wrong or the file was removed: fix `ingest.source` in params.yaml"
    else:
        advice = "the server had a problem: try again later"
    raise SourceError(
        f"Downloading {redact_url(url)} failed with HTTP {status} {response.reason}; {advice}."
    )


def _save(
    response: requests.Response,
    url: str,
    target: Path,
    offset: int,
    progress: bool,
    limits: Limits,
    clock: _Clock,
) -> None:
    length = response.headers.get("Content-Length", "")
    total = offset + int(length) if length.isdigit() else None
    try:
        limits.check_size(url, total or 0, declared=True)
    except SourceError:
        target.unlink(missing_ok=True)
        raise
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
    size, received = offset, 0
    with bar, target.open("ab" if offset else "wb") as out:
        # read1 returns what has arrived, so a trickling server cannot outlast the deadline.
        while chunk := response.raw.read1(_CHUNK, decode_content=True):
            size, received = size + len(chunk), received + len(chunk)
            try:
                limits.check_size(url, size, declared=False)
            except SourceError:
                out.close()
                target.unlink()
                raise
            out.write(chunk)
            bar.update(len(chunk))
            clock.check(received)
        out.flush()
        os.fsync(out.fileno())
