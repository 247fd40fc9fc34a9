"""Odd inputs to `catdog predict` and the service: pipes, huge files, broken models, tiny images.

Each gets its own row (or 4xx) with a reason; nothing blocks, and nothing is read whole first.
"""

from __future__ import annotations

import io
import os
import struct
import tracemalloc
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from catdog_pipeline.cli import cli
from catdog_pipeline.images import UnusableImage
from catdog_pipeline.serving.predictor import ModelLoadError, load_predictor


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (220, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def odd_folder(tmp_path: Path, photo) -> Path:
    """A named pipe and a 1.5 GB (sparse) file, both named .jpg, beside a real photo."""
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "rex.jpg").write_bytes(photo("red"))
    os.mkfifo(folder / "pipe.jpg")
    with open(folder / "huge.jpg", "wb") as huge:
        huge.truncate(1_500_000_000)
    return folder


@pytest.mark.timeout(120)
def test_a_pipe_and_a_huge_file_get_rows_of_their_own(predictor, odd_folder: Path) -> None:
    files = sorted(odd_folder.iterdir())
    tracemalloc.start()
    try:
        results = {Path(p.source).name: p for p in predictor.classify_files(files, batch_size=2)}
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert results["pipe.jpg"].error.startswith("not_a_file: a named pipe")
    assert results["huge.jpg"].error.startswith("too_large: 1,500,000,000 bytes")
    assert "image.max_pixels" in results["huge.jpg"].error
    assert results["rex.jpg"].label == "dog"
    assert peak < 100_000_000, f"{peak:,} bytes allocated: the huge file was read"


@pytest.mark.timeout(120)
def test_catdog_predict_on_a_folder_with_a_pipe_finishes(
    tiny_model_path, params_file, odd_folder: Path
) -> None:
    base = ["predict", "--model", str(tiny_model_path), "--params", str(params_file)]
    result = CliRunner().invoke(cli, [*base, str(odd_folder), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert "not_a_file: a named pipe" in result.output
    assert "1 classified, 2 could not be read." in result.output


@pytest.mark.parametrize(
    "damage", [lambda data: data[: len(data) // 3], lambda data: b"\0" * len(data)]
)
def test_a_damaged_keras_file_says_so_not_file_not_found(
    tmp_path: Path, tiny_model_path: Path, damage
) -> None:
    (tmp_path / "model_card.json").write_bytes(
        (tiny_model_path.parent / "model_card.json").read_bytes()
    )
    broken = tmp_path / "model.keras"
    broken.write_bytes(damage(tiny_model_path.read_bytes()))
    with pytest.raises(ModelLoadError) as raised:
        load_predictor(broken)
    message = str(raised.value)
    assert "File not found" not in message
    assert str(broken) in message and "damaged" in message and "dvc repro train" in message


@pytest.mark.parametrize("size", [(1, 1), (1, 100_000), (31, 200)])
def test_images_clean_would_quarantine_are_refused_everywhere(
    predictor, client, tmp_path: Path, size
) -> None:
    data = png(size)
    assert predictor.card.min_side == 32  # the default of a card that does not record it
    with pytest.raises(UnusableImage, match="too_small"):
        predictor.prepare(data)
    (tmp_path / "tiny.png").write_bytes(data)
    [row] = predictor.classify_files([tmp_path / "tiny.png"], batch_size=1)
    assert row.label is None and row.error.startswith("too_small")
    answer = client.post("/predict", files=[("file", ("tiny.png", data, "image/png"))])
    assert answer.status_code == 422 and answer.json()["error"] == "too_small"


def test_the_card_s_min_side_is_the_rule(tmp_path: Path, save_tiny_model) -> None:
    lenient = load_predictor(save_tiny_model(tmp_path, min_side=8))
    assert lenient.prepare(png((16, 16))).shape == (32, 32, 3)
    with pytest.raises(UnusableImage, match="too_small"):
        lenient.prepare(png((7, 16)))


def test_an_odd_exif_block_keeps_the_log_quiet(tiny_model_path: Path, tmp_path: Path) -> None:
    """PIL's dozens of warnings about one file's EXIF never reach predict's or serve's log."""
    entries = 30  # an IFD claiming far more tag data than the block holds
    ifd = struct.pack("<H", entries)
    ifd += b"".join(struct.pack("<HHII", 0x9000 + tag, 2, 50, 8) for tag in range(entries))
    buffer = io.BytesIO()
    exif = b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0"
    Image.new("RGB", (64, 48), (220, 30, 30)).save(buffer, "JPEG", exif=exif)
    (tmp_path / "odd.jpg").write_bytes(buffer.getvalue())
    with warnings.catch_warnings(record=True) as shown:
        predictor = load_predictor(tiny_model_path)
        [row] = predictor.classify_files([tmp_path / "odd.jpg"], batch_size=1)
    assert row.label == "dog"
    assert not [w for w in shown if "Tag data" in str(w.message)]
