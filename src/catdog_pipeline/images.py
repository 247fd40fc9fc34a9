"""The one way this project turns a file into model input: decode -> RGB -> EXIF -> resize.

Clean, training input, evaluation, `catdog predict` and the HTTP service all go through
`open_rgb` and `fit_to_size`, so preprocessing cannot drift between them.
"""

from __future__ import annotations

import io
import os
import stat
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from catdog_pipeline.core.errors import InputError

# Formats the project accepts; anything else that PIL happens to read is quarantined.
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "GIF", "BMP", "WEBP", "TIFF"})
RESIZE_MODES = ("pad", "center_crop")
PAD_COLOUR = (0, 0, 0)
# Transparent pixels are shown over white, as an image viewer would.
BACKGROUND = (255, 255, 255)
# The most bytes a file may hold per allowed pixel (16-bit RGBA, uncompressed, is 8), plus
# room for metadata (EXIF, ICC profiles, embedded previews): anything larger is refused unread.
MAX_BYTES_PER_PIXEL = 8
METADATA_ALLOWANCE = 64 * 2**20
FILE_KINDS = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


# File names that may hold an image: ingest takes these as candidates, `catdog predict` globs them.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
)


class UnusableImage(InputError):
    """An input that cannot become a training image; `reason` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def open_rgb(source: bytes | Path | str, *, max_pixels: int, min_side: int = 1) -> Image.Image:
    """Fully decode `source` (bytes or a path) into an upright RGB image, or raise UnusableImage."""
    image, _ = decode(source, max_pixels=max_pixels, min_side=min_side)
    return to_rgb(image)


def decode(
    source: bytes | Path | str, *, max_pixels: int, min_side: int = 1
) -> tuple[Image.Image, str]:
    """Fully decode `source` and apply its EXIF orientation; return (image, format).

    The image keeps its original mode. Raises UnusableImage with reason empty, not_an_image,
    unsupported_format, decompression_bomb, too_small or truncated (and, for a path, the
    reasons of `read_image_file`). The pixel count is checked from the header, so a
    decompression bomb is never allocated.
    """
    data = source if isinstance(source, bytes) else read_image_file(source, max_pixels)
    if not data:
        raise UnusableImage("empty", "the file has no bytes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:  # so large that PIL itself refuses it
            raise UnusableImage(
                "decompression_bomb", f"{exc} (over image.max_pixels={max_pixels})"
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise UnusableImage("not_an_image", "no image format recognises its content") from exc
    image_format = str(image.format)
    _check_header(image, max_pixels=max_pixels, min_side=min_side)
    try:
        image.load()
    except Exception as exc:  # PIL raises OSError, SyntaxError, struct.error... for bad data
        raise UnusableImage("truncated", f"decoding failed: {exc}") from exc
    return _upright(image), image_format


def read_image_file(path: Path | str, max_pixels: int) -> bytes:
    """The bytes of an image file, checked before reading: a regular file of a plausible size.

    Raises UnusableImage `not_a_file` for a named pipe, device, socket or folder (reading a
    pipe would wait forever) and `too_large` for a file larger than any image within
    `max_pixels` can be (MAX_BYTES_PER_PIXEL per pixel plus METADATA_ALLOWANCE); OSError
    when it cannot be opened. The type is checked on the opened file, so a swap is caught.
    """
    limit = max_pixels * MAX_BYTES_PER_PIXEL + METADATA_ALLOWANCE
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            kind = FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise UnusableImage("not_a_file", f"{kind}, not an image file")
        # One byte over the size stat gave: a file growing past the limit is caught too.
        with os.fdopen(handle, "rb", closefd=False) as file:
            data = file.read(info.st_size + 1) if info.st_size <= limit else b""
    finally:
        os.close(handle)
    if info.st_size > limit or len(data) > limit:
        raise UnusableImage(
            "too_large",
            f"{max(info.st_size, len(data)):,} bytes; no image within image.max_pixels="
            f"{max_pixels:,} needs more than {limit:,}",
        )
    return data


def _check_header(image: Image.Image, *, max_pixels: int, min_side: int) -> None:
    if image.format not in SUPPORTED_FORMATS:
        raise UnusableImage("unsupported_format", f"{image.format} images are not accepted")
    width, height = image.size
    if width * height > max_pixels:
        raise UnusableImage(
            "decompression_bomb", f"{width}x{height} pixels is over image.max_pixels={max_pixels}"
        )
    if min(width, height) < min_side:
        raise UnusableImage("too_small", f"{width}x{height} is under clean.min_side={min_side}")


def _upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation; a broken EXIF block is ignored rather than fatal."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # malformed EXIF is common in camera dumps and never worth losing a photo
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB: 16-bit and float scaled, transparency over white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = _to_8bit_grey(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, BACKGROUND)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB") if image.mode != "RGB" else image


def _to_8bit_grey(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    top = pixels.max(initial=0.0)
    if top > 255:  # 16-bit (or wider) samples: keep the relative brightness
        pixels = pixels * (255.0 / (65535.0 if top <= 65535 else top))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")


def fit_to_size(image: Image.Image, size: Sequence[int], mode: str) -> Image.Image:
    """Resize to `size` = (height, width) keeping the aspect ratio: `pad` or `center_crop`."""
    height, width = int(size[0]), int(size[1])
    if image.size == (width, height):
        return image
    if mode == "pad":
        return ImageOps.pad(
            image, (width, height), method=Image.Resampling.BICUBIC, color=PAD_COLOUR
        )
    if mode == "center_crop":
        return ImageOps.fit(image, (width, height), method=Image.Resampling.BICUBIC)
    raise InputError(f"image.resize_mode must be one of {RESIZE_MODES}, got {mode!r}")


def prepare_image(
    source: bytes | Path | str,
    *,
    size: Sequence[int],
    resize_mode: str,
    max_pixels: int,
    min_side: int = 1,
) -> np.ndarray:
    """Decode and resize one image into the model's input: a (height, width, 3) uint8 array."""
    image = open_rgb(source, max_pixels=max_pixels, min_side=min_side)
    return np.asarray(fit_to_size(image, size, resize_mode), dtype=np.uint8)


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """JPEG bytes of an RGB image (the clean stage's storage format)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
