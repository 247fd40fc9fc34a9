"""Decode, check and resize one raw file; runs in worker processes, so it is small and pure."""

from __future__ import annotations

import hashlib
import os
import select
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np

from catdog_pipeline.images import UnusableImage, decode, encode_jpeg, fit_to_size, to_rgb
from catdog_pipeline.processes import process_alive

# Distinct warnings kept per file in the manifest; more are counted, not listed.
MAX_WARNINGS = 10


@dataclass(frozen=True)
class NormalizeSettings:
    """What a worker needs to turn a raw file into a clean one."""

    output_dir: str
    size: tuple[int, int]
    resize_mode: str
    max_pixels: int
    min_side: int
    jpeg_quality: int


def normalize_file(raw_file: str, settings: NormalizeSettings) -> dict:
    """Inspect one raw file and, if usable, write its clean JPEG; return its manifest fields.

    What PIL warns about while reading it (an odd EXIF block can give dozens of lines) goes
    into the file's `decode_warnings` field instead of the log.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fields = _normalize(raw_file, settings)
    return {**fields, "decode_warnings": summarize_warnings(caught)}


def summarize_warnings(caught: list[warnings.WarningMessage]) -> str | None:
    """Distinct warning messages in order, "; "-joined, the first MAX_WARNINGS of them."""
    messages = list(dict.fromkeys(str(warning.message) for warning in caught))
    if not messages:
        return None
    more = len(messages) - MAX_WARNINGS
    return "; ".join(messages[:MAX_WARNINGS]) + (f"; ... {more} more" if more > 0 else "")


def _normalize(raw_file: str, settings: NormalizeSettings) -> dict:
    try:
        image, image_format = decode(
            Path(raw_file), max_pixels=settings.max_pixels, min_side=settings.min_side
        )
    except UnusableImage as unusable:
        return {"status": "quarantined", "reason": unusable.reason, "detail": unusable.detail}
    original_mode = image.mode
    rgb = to_rgb(image)
    pixels = np.asarray(rgb)
    digest = hashlib.sha256(f"{pixels.shape}".encode() + pixels.tobytes()).hexdigest()
    image_path = image_path_of(digest)
    clean = fit_to_size(rgb, settings.size, settings.resize_mode)
    write_once(Path(settings.output_dir) / image_path, encode_jpeg(clean, settings.jpeg_quality))
    return {
        "status": "decoded",
        "reason": None,
        "detail": None,
        "width": rgb.width,
        "height": rgb.height,
        "mode": original_mode,
        "format": image_format,
        "pixel_sha256": digest,
        "phash": str(imagehash.phash(rgb)),
        "image_path": image_path,
    }


def exit_with(owner: int) -> None:
    """Pool worker initializer: end this worker the moment process `owner` (the pool's) ends.

    A forkserver worker's parent is the fork server, not the process that made the pool, and
    the fork server lives as long as any worker does, so neither PR_SET_PDEATHSIG nor watching
    os.getppid() notices a `kill -9` of the owner. A thread waits on a pidfd of the owner
    instead (Linux 5.3+; elsewhere it checks every second): no pid reuse, no polling delay.
    """
    try:
        handle = os.pidfd_open(owner) if hasattr(os, "pidfd_open") else None
    except ProcessLookupError:  # gone before this worker started
        os._exit(1)
    threading.Thread(target=_wait_for_exit, args=(owner, handle), daemon=True).start()


def _wait_for_exit(owner: int, handle: int | None) -> None:
    if handle is not None:
        select.select([handle], [], [])  # a pidfd turns readable when its process ends
    else:
        while process_alive(owner):
            time.sleep(1.0)
    os._exit(1)


def image_path_of(pixel_sha256: str) -> str:
    """Where the clean image of these pixels goes under clean_images: named by their hash."""
    return f"{pixel_sha256[:2]}/{pixel_sha256}.jpg"


def write_once(target: Path, data: bytes, *, replace: bool = False) -> None:
    """Write atomically. Identical pixels give an identical file, so an existing one is kept,
    unless `replace`."""
    if target.exists() and not replace:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
