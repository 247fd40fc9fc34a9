"""Clean: quarantine reasons, clean images, exact and near duplicates, label conflicts."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from catdog_pipeline.pipelines.clean.duplicates import group_ids, near_duplicate_pairs
from catdog_pipeline.pipelines.clean.nodes import (
    mark_duplicates,
    normalize_images,
    summarize_cleaning,
)
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


@pytest.fixture
def dirty_dump(tmp_path: Path, make_image) -> Path:
    """A dump with one of everything a real one holds."""
    raw = tmp_path / "raw"
    make_image(raw / "cat/good.jpg", seed=1)
    make_image(raw / "cat/grey.jpg", mode="L", seed=2)
    make_image(raw / "cat/cmyk.jpg", mode="CMYK", seed=3)
    make_image(raw / "dog/png_named_jpg.jpg", fmt="PNG", seed=4)
    make_image(raw / "dog/palette.gif", mode="P", fmt="GIF", seed=5)
    # exact duplicates: the same pixels as PNG and BMP (lossless, so decoded pixels are equal)
    make_image(raw / "dog/same.png", fmt="PNG", seed=6)
    make_image(raw / "dog/same_copy.bmp", fmt="BMP", seed=6)
    # near duplicate: a lower-quality re-encode of good.jpg, and a larger copy of it
    Image.open(raw / "cat/good.jpg").save(raw / "cat/good_small.jpg", quality=60)
    # label conflict: one photo under both labels
    make_image(raw / "cat/both.jpg", seed=7)
    make_image(raw / "dog/both.jpg", seed=7)
    # broken
    (raw / "dog/empty.jpg").write_bytes(b"")
    (raw / "dog/notes.jpg").write_text("not a photo at all")
    data = io.BytesIO()
    Image.open(make_image(tmp_path / "big.jpg", size=(200, 200), seed=8)).save(data, "JPEG")
    (raw / "cat/truncated.jpg").write_bytes(data.getvalue()[: len(data.getvalue()) // 2])
    make_image(raw / "cat/tiny.jpg", size=(10, 10), seed=9)
    make_image(raw / "dog/bomb.png", size=(1200, 1000), fmt="PNG", seed=10)
    # not candidates
    (raw / "cat/.DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (raw / "readme.txt").write_text("hello")
    return raw


@pytest.fixture
def cleaned(dirty_dump: Path, monkeypatch, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    monkeypatch.setenv("CATDOG_STAGING_DIR", str(tmp_path / "staging"))
    staged, inspected = normalize_images(dirty_dump, inventory_of(dirty_dump), IMAGE, CLEAN)
    return staged, mark_duplicates(inspected, CLEAN)


def by_name(manifest: pd.DataFrame) -> pd.DataFrame:
    return manifest.set_index("original_path")


def test_every_broken_kind_is_quarantined_with_its_reason(cleaned) -> None:
    manifest = by_name(cleaned[1])
    expected = {
        "dog/empty.jpg": "empty",
        "dog/notes.jpg": "not_an_image",
        "cat/truncated.jpg": "truncated",
        "cat/tiny.jpg": "too_small",
        "dog/bomb.png": "decompression_bomb",
    }
    for path, reason in expected.items():
        assert manifest.loc[path, "status"] == "quarantined", path
        assert manifest.loc[path, "reason"] == reason, path
        assert pd.isna(manifest.loc[path, "image_path"]), path


def test_non_images_are_skipped_not_decoded(cleaned) -> None:
    manifest = by_name(cleaned[1])
    assert manifest.loc["cat/.DS_Store", ["status", "reason"]].tolist() == [
        "skipped",
        "system_file",
    ]
    assert manifest.loc["readme.txt", "reason"] == "not_an_image_file"


def test_usable_images_become_rgb_jpegs_of_the_model_size(cleaned) -> None:
    staged, manifest = cleaned
    usable = manifest[manifest["image_path"].notna()]
    assert len(usable) == 10
    for image_path in usable["image_path"]:
        with Image.open(staged / image_path) as image:
            assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (32, 32))
    originals = by_name(manifest)
    assert originals.loc["cat/cmyk.jpg", "mode"] == "CMYK"
    assert originals.loc["dog/png_named_jpg.jpg", "format"] == "PNG"
    assert originals.loc["dog/palette.gif", ["mode", "format"]].tolist() == ["P", "GIF"]


def test_exact_duplicates_share_pixels_and_one_is_kept(cleaned) -> None:
    manifest = by_name(cleaned[1])
    pair = manifest.loc[["dog/same.png", "dog/same_copy.bmp"]]
    assert pair["pixel_sha256"].nunique() == 1
    assert pair["duplicate_group"].nunique() == 1 and (pair["duplicate_group"] >= 0).all()
    assert sorted(pair["status"]) == ["duplicate", "kept"]
    assert set(pair["reason"].dropna()) == {"exact_duplicate"}


def test_near_duplicates_keep_one(cleaned) -> None:
    manifest = by_name(cleaned[1])
    pair = manifest.loc[["cat/good.jpg", "cat/good_small.jpg"]]
    assert pair["pixel_sha256"].nunique() == 2
    assert pair["duplicate_group"].nunique() == 1
    assert sorted(pair["status"]) == ["duplicate", "kept"]
    assert set(pair["reason"].dropna()) == {"near_duplicate"}


def test_label_conflicts_are_dropped_whole(cleaned) -> None:
    manifest = by_name(cleaned[1])
    both = manifest.loc[["cat/both.jpg", "dog/both.jpg"]]
    assert both["status"].tolist() == ["conflict", "conflict"]
    assert both["reason"].tolist() == ["label_conflict", "label_conflict"]


def test_distinct_photos_are_kept_alone(cleaned) -> None:
    manifest = by_name(cleaned[1])
    for path in ["cat/grey.jpg", "cat/cmyk.jpg", "dog/png_named_jpg.jpg", "dog/palette.gif"]:
        assert manifest.loc[path, "status"] == "kept", path
        assert manifest.loc[path, "duplicate_group"] == -1, path


def test_summary_counts_every_outcome(cleaned) -> None:
    summary = summarize_cleaning(cleaned[1])
    assert summary["files_seen"] == 17
    assert summary["skipped_non_images"] == 2
    assert summary["quarantined"] == {
        "decompression_bomb": 1,
        "empty": 1,
        "not_an_image": 1,
        "too_small": 1,
        "truncated": 1,
    }
    assert summary["duplicates_removed"] == 2
    assert summary["label_conflicts"] == 2
    assert summary["kept"] == 6
    assert summary["per_class"]["cat"]["kept"] == 3 and summary["per_class"]["dog"]["kept"] == 3


def test_near_duplicate_distance_off_keeps_re_encodes(dirty_dump, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CATDOG_STAGING_DIR", str(tmp_path / "staging"))
    settings = {**CLEAN, "near_duplicate_distance": -1}
    _, inspected = normalize_images(dirty_dump, inventory_of(dirty_dump), IMAGE, settings)
    manifest = by_name(mark_duplicates(inspected, settings))
    assert manifest.loc[["cat/good.jpg", "cat/good_small.jpg"], "status"].tolist() == ["kept"] * 2
    # Exact duplicates are still found: one of the pair is kept, the other marked.
    pair = manifest.loc[["dog/same.png", "dog/same_copy.bmp"]]
    assert sorted(pair["status"]) == ["duplicate", "kept"]
    assert pair["reason"].dropna().tolist() == ["exact_duplicate"]


def test_bad_parameters_name_themselves(dirty_dump, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("CATDOG_STAGING_DIR", str(tmp_path / "staging"))
    with pytest.raises(ValueError, match="image.resize_mode"):
        normalize_images(
            dirty_dump, inventory_of(dirty_dump), {**IMAGE, "resize_mode": "squash"}, CLEAN
        )


def test_near_duplicate_pairs_by_hamming_distance() -> None:
    hashes = ["0000000000000000", "000000000000000f", "00000000000000ff", "ffffffffffffffff"]
    assert near_duplicate_pairs(hashes, 8).tolist() == [[0, 1], [0, 2], [1, 2]]
    assert near_duplicate_pairs(hashes, 4).tolist() == [[0, 1], [1, 2]]
    assert near_duplicate_pairs(hashes, 3).tolist() == []
    assert near_duplicate_pairs(hashes, -1).tolist() == []


def test_group_ids_are_connected_components() -> None:
    groups = group_ids(6, np.array([[0, 2], [2, 4], [1, 5]]))
    assert groups[0] == groups[2] == groups[4]
    assert groups[1] == groups[5]
    assert len({groups[0], groups[1], groups[3]}) == 3
