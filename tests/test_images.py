"""The one decode -> RGB -> EXIF -> resize path, on every kind of input a real dump holds."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catdog_pipeline.images import (
    MAX_BYTES_PER_PIXEL,
    METADATA_ALLOWANCE,
    UnusableImage,
    decode,
    fit_to_size,
    open_rgb,
    prepare_image,
    read_image_file,
)

BIG = 10_000_000


def encoded(image: Image.Image, fmt: str, **save_args) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


def gradient(size=(40, 30)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    y = np.linspace(0, 255, size[1], dtype=np.uint8)
    red = np.broadcast_to(x, (size[1], size[0]))
    green = np.broadcast_to(y[:, None], (size[1], size[0]))
    blue = np.full((size[1], size[0]), 128, np.uint8)
    return Image.fromarray(np.dstack([red, green, blue]))


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("RGB", "JPEG"),
        ("L", "JPEG"),
        ("CMYK", "JPEG"),
        ("RGB", "PNG"),
        ("RGBA", "PNG"),
        ("LA", "PNG"),
        ("P", "PNG"),
        ("P", "GIF"),
        ("1", "PNG"),
        ("I;16", "PNG"),
        ("I", "TIFF"),
        ("F", "TIFF"),
        ("RGB", "BMP"),
        ("RGB", "WEBP"),
    ],
)
def test_every_mode_becomes_rgb(mode: str, fmt: str) -> None:
    image = gradient().convert(mode)
    rgb = open_rgb(encoded(image, fmt), max_pixels=BIG)
    assert rgb.mode == "RGB"
    assert rgb.size == (40, 30)
    assert np.asarray(rgb).std() > 10, "the picture survived conversion, not a flat field"


def test_sixteen_bit_grey_keeps_its_brightness() -> None:
    deep = Image.fromarray(np.full((8, 8), 40_000, dtype=np.uint16))
    rgb = open_rgb(encoded(deep, "PNG"), max_pixels=BIG)
    assert np.asarray(rgb)[0, 0].tolist() == [155, 155, 155]  # 40000 / 65535 * 255


def test_transparency_is_shown_over_white() -> None:
    clear = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    assert np.asarray(open_rgb(encoded(clear, "PNG"), max_pixels=BIG))[5, 5].tolist() == [255] * 3


def test_png_behind_a_jpg_name_decodes(tmp_path) -> None:
    path = tmp_path / "cat.1.jpg"
    path.write_bytes(encoded(gradient(), "PNG"))
    image, image_format = decode(path, max_pixels=BIG)
    assert image_format == "PNG"
    assert image.size == (40, 30)


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    data = encoded(gradient((40, 30)), "JPEG", exif=exif.tobytes())
    assert open_rgb(data, max_pixels=BIG).size == (30, 40)


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, this is a text file, not a photo", "not_an_image"),
        (half(encoded(gradient((200, 150)), "JPEG")), "truncated"),
        (encoded(gradient(), "PNG")[:-40], "truncated"),
        (encoded(gradient(), "PDF"), "not_an_image"),
        (encoded(gradient(), "ICO"), "unsupported_format"),
        (encoded(gradient((6, 4)), "PNG"), "too_small"),
    ],
    ids=["empty", "text", "truncated-jpeg", "truncated-png", "pdf", "ico", "tiny"],
)
def test_unusable_inputs_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(UnusableImage) as raised:
        open_rgb(data, max_pixels=BIG, min_side=8)
    assert raised.value.reason == reason


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # 4 million pixels in 4 KB of PNG: over the limit, so it must never be decoded.
    bomb = encoded(Image.new("L", (2_000, 2_000)), "PNG")
    with pytest.raises(UnusableImage) as raised:
        open_rgb(bomb, max_pixels=1_000_000)
    assert raised.value.reason == "decompression_bomb"
    assert "image.max_pixels" in str(raised.value)


@pytest.mark.parametrize("mode", ["pad", "center_crop"])
def test_fit_to_size_gives_exact_size(mode: str) -> None:
    assert fit_to_size(gradient((400, 100)), (50, 60), mode).size == (60, 50)


def test_pad_keeps_the_whole_picture_and_crop_fills_the_frame() -> None:
    wide = Image.new("RGB", (200, 100), (255, 255, 255))
    padded = np.asarray(fit_to_size(wide, (100, 100), "pad"))
    cropped = np.asarray(fit_to_size(wide, (100, 100), "center_crop"))
    assert padded[0, 50].tolist() == [0, 0, 0] and padded[50, 50].tolist() == [255, 255, 255]
    assert (cropped == 255).all()


def test_unknown_resize_mode_names_the_parameter() -> None:
    with pytest.raises(ValueError, match="image.resize_mode"):
        fit_to_size(gradient(), (10, 10), "stretch")


def test_prepare_image_is_model_input() -> None:
    array = prepare_image(
        encoded(gradient(), "JPEG"), size=(24, 32), resize_mode="pad", max_pixels=BIG
    )
    assert array.shape == (24, 32, 3) and array.dtype == np.uint8


# ---- reading a file: its type and size are checked before a byte is read


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda path: os.mkfifo(path), "a named pipe"),
        (lambda path: path.mkdir(), "a folder"),
        (lambda path: path.symlink_to("/dev/zero"), "a character device"),
    ],
)
def test_what_is_not_a_regular_file_is_refused_unread(tmp_path: Path, make, kind) -> None:
    odd = tmp_path / "photo.jpg"
    make(odd)
    with pytest.raises(UnusableImage) as raised:
        decode(odd, max_pixels=BIG)
    assert (raised.value.reason, raised.value.detail) == (
        "not_a_file",
        f"{kind}, not an image file",
    )


def test_a_file_larger_than_any_allowed_image_is_refused_unread(tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    limit = 1000 * MAX_BYTES_PER_PIXEL + METADATA_ALLOWANCE
    with open(huge, "wb") as file:
        file.truncate(limit + 1)
    with pytest.raises(UnusableImage, match="too_large") as raised:
        read_image_file(huge, max_pixels=1000)
    assert "image.max_pixels=1,000" in raised.value.detail
    huge.write_bytes(encoded(gradient(), "PNG"))
    assert read_image_file(huge, max_pixels=1000) == huge.read_bytes()
