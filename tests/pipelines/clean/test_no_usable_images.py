"""A source in which nothing decodes stops clean with counts per reason, not a TypeError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catdog_pipeline.pipelines.clean.duplicates import group_ids
from catdog_pipeline.pipelines.clean.nodes import mark_duplicates, normalize_images
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


def inventory_of(folder: Path) -> pd.DataFrame:
    rows = [
        inventory_row(path.relative_to(folder).as_posix(), path.stat().st_size, CLASSES)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("workers", [1, 2])
def test_eighty_text_files_named_jpg_say_so(tmp_path: Path, monkeypatch, workers) -> None:
    monkeypatch.setenv("CATDOG_STAGING_DIR", str(tmp_path / "staging"))
    raw = tmp_path / "raw"
    for index in range(80):
        path = raw / f"{'cats' if index % 2 else 'dogs'}/{index}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"" if index < 3 else b"ftypheic, or a note saying so")
    with pytest.raises(ValueError) as raised:
        normalize_images(raw, inventory_of(raw), IMAGE, {**CLEAN, "workers": workers})
    message = str(raised.value)
    assert "No usable images" in message and str(raw) in message
    assert "77 quarantined as not_an_image, 3 quarantined as empty" in message
    assert "ingest.source" in message
    assert not any((tmp_path / "staging").iterdir()), "the staging folder was left behind"


def test_no_candidates_at_all_is_named(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CATDOG_STAGING_DIR", str(tmp_path / "staging"))
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw/readme.txt").write_text("no photos here")
    inventory = inventory_of(tmp_path / "raw")
    with pytest.raises(ValueError, match="ingest found no image files"):
        normalize_images(tmp_path / "raw", inventory, IMAGE, CLEAN)


def test_duplicate_marking_copes_with_no_decoded_rows() -> None:
    assert group_ids(0, np.empty((0, 2), dtype=np.int64)).dtype == np.int64
    inspected = pd.DataFrame(
        {
            "original_path": ["cats/a.jpg"],
            "label": ["cat"],
            "status": ["quarantined"],
            "reason": ["not_an_image"],
            "width": pd.array([None], dtype="Int64"),
            "height": pd.array([None], dtype="Int64"),
            "pixel_sha256": pd.array([None], dtype="string"),
            "phash": pd.array([None], dtype="string"),
        }
    )
    manifest = mark_duplicates(inspected, CLEAN)
    assert manifest["status"].tolist() == ["quarantined"]
    assert manifest["duplicate_group"].tolist() == [-1]
