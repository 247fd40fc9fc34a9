"""An odd EXIF block: PIL's dozens of warnings land in the file's manifest row, not the log."""

from __future__ import annotations

import io
import shutil
import struct
import warnings
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from catdog_pipeline.pipelines.clean.nodes import normalize_images
from catdog_pipeline.pipelines.ingest.nodes import inventory_row

CLASSES = {"cat": ["cats"], "dog": ["dogs"]}
IMAGE = {"size": [32, 32], "resize_mode": "pad", "max_pixels": 1_000_000}
CLEAN = {
    "min_side": 16,
    "near_duplicate_distance": 4,
    "jpeg_quality": 95,
    "workers": 1,
    "executor": "processes",
    "dask_scheduler": None,
}


def odd_exif(entries: int = 30) -> bytes:
    """An EXIF block whose IFD claims far more tag data than the block holds."""
    ifd = struct.pack("<H", entries)
    ifd += b"".join(struct.pack("<HHII", 0x9000 + tag, 2, 50, 8) for tag in range(entries))
    return b"Exif\0\0II*\0" + struct.pack("<I", 8) + ifd + b"\0\0\0\0"


def photo_with_odd_exif() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buffer, "JPEG", exif=odd_exif())
    return buffer.getvalue()


@pytest.mark.parametrize("workers", [1, 2])
def test_exif_warnings_go_to_the_manifest_not_the_log(
    tmp_path: Path, monkeypatch, make_image, capfd, workers
) -> None:
    monkeypatch.setenv("CATDOG_STAGING_DIR", str(tmp_path / "staging"))
    raw = tmp_path / "raw"
    (raw / "cats").mkdir(parents=True)
    (raw / "cats/odd.jpg").write_bytes(photo_with_odd_exif())
    make_image(raw / "dogs/plain.jpg", seed=1)
    for index in range(70):  # enough files for the process pool when workers=2
        shutil.copyfile(raw / "cats/odd.jpg", raw / f"cats/odd-{index}.jpg")
    inventory = pd.DataFrame(
        [
            inventory_row(p.relative_to(raw).as_posix(), p.stat().st_size, CLASSES)
            for p in sorted(raw.rglob("*.jpg"))
        ]
    )
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        _, inspected = normalize_images(raw, inventory, IMAGE, {**CLEAN, "workers": workers})

    rows = inspected.set_index("original_path")
    odd = rows.loc["cats/odd.jpg"]
    assert odd["status"] == "decoded"
    assert "Tag data larger than file. Skipping tag" in odd["decode_warnings"]
    assert odd["decode_warnings"].endswith("more")  # capped, and says so
    plain = rows.loc["dogs/plain.jpg"]
    assert plain["status"] == "decoded" and pd.isna(plain["decode_warnings"])
    assert inspected["decode_warnings"].dtype == "string"
    assert not [w for w in escaped if "Tag data" in str(w.message)]
    assert "Tag data" not in capfd.readouterr().err
