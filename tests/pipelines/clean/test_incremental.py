"""Clean's cache: a new source costs only its own files; the output is the same as a full clean."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from catdog_pipeline.pipelines.clean import incremental

from .conftest import IMAGE, clean, folder_bytes


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The raw files clean's per-file function is called on (one worker: in this process)."""
    calls: list[str] = []
    real = incremental.normalize_file

    def counting(raw_file: str, settings):
        calls.append(Path(raw_file).name)
        return real(raw_file, settings)

    monkeypatch.setattr(incremental, "normalize_file", counting)
    return calls


@pytest.fixture
def base(tmp_path: Path, make_image) -> Path:
    folder = tmp_path / "base"
    for seed in range(6):
        make_image(folder / f"{'cats' if seed % 2 else 'dogs'}/b{seed}.jpg", seed=seed)
    (folder / "dogs/broken.jpg").write_bytes(b"not a photo")
    return folder


@pytest.fixture
def increment(tmp_path: Path, base: Path, make_image) -> Path:
    """New photos, plus old ones again: a byte copy, a PNG of the same pixels, and a re-encode
    under the other label."""
    folder = tmp_path / "increment"
    for seed in (10, 11):
        make_image(folder / f"cats/n{seed}.jpg", seed=seed)
    (folder / "dogs").mkdir()
    shutil.copyfile(base / "dogs/b0.jpg", folder / "dogs/b0.jpg")  # same path and bytes
    Image.open(base / "cats/b1.jpg").save(folder / "cats/b1-again.png")
    Image.open(base / "cats/b3.jpg").save(folder / "dogs/b3-relabelled.jpg", quality=70)
    return folder


def test_a_second_source_decodes_only_its_new_files(base, increment, ingested, decodes) -> None:
    clean(*ingested(base))
    assert sorted(decodes) == [
        "b0.jpg",
        "b1.jpg",
        "b2.jpg",
        "b3.jpg",
        "b4.jpg",
        "b5.jpg",
        "broken.jpg",
    ]

    decodes.clear()
    raw, inventory = ingested([base, increment])
    staged, manifest = clean(raw, inventory)

    # The byte copy of b0.jpg has a known content: only the increment's new bytes are decoded.
    assert sorted(decodes) == ["b1-again.png", "b3-relabelled.jpg", "n10.jpg", "n11.jpg"]
    assert manifest["source"].nunique() == 2


def test_cached_clean_is_bit_identical_to_a_full_clean(
    base, increment, ingested, decodes, monkeypatch, tmp_path
) -> None:
    clean(*ingested(base))
    raw, inventory = ingested([base, increment])
    added_images, added = clean(raw, inventory)

    monkeypatch.setenv("CATDOG_CLEAN_CACHE_DIR", str(tmp_path / "empty-cache"))
    decodes.clear()
    full_images, full = clean(raw, inventory)

    assert len(decodes) == len(inventory.query("status == 'candidate'"))
    pd.testing.assert_frame_equal(added, full)
    assert folder_bytes(added_images) == folder_bytes(full_images)


def test_duplicates_and_conflicts_across_sources_are_caught(base, increment, ingested) -> None:
    clean(*ingested(base))
    _, manifest = clean(*ingested([base, increment]))

    rows = manifest.set_index(["source", "original_path"])
    new, old = str(increment), str(base)
    for pair in [
        [(old, "dogs/b0.jpg"), (new, "dogs/b0.jpg")],  # the same file in both sources
        [(old, "cats/b1.jpg"), (new, "cats/b1-again.png")],  # the same pixels
    ]:
        assert sorted(rows.loc[pair, "status"]) == ["duplicate", "kept"]
        assert rows.loc[pair, "reason"].dropna().tolist() == ["exact_duplicate"]
    # the same photo as a cat in the base and a dog in the increment: both dropped
    conflict = [(old, "cats/b3.jpg"), (new, "dogs/b3-relabelled.jpg")]
    assert rows.loc[conflict, "status"].tolist() == ["conflict", "conflict"]


@pytest.mark.parametrize(
    ("image", "clean_params", "decoded_again"),
    [
        ({**IMAGE, "size": [24, 24]}, {}, 7),
        ({**IMAGE, "resize_mode": "center_crop"}, {}, 7),
        (IMAGE, {"jpeg_quality": 80}, 7),
        (IMAGE, {"min_side": 20}, 7),
        (IMAGE, {"near_duplicate_distance": 0}, 0),  # decided afresh over the whole set anyway
    ],
    ids=["size", "resize_mode", "jpeg_quality", "min_side", "near_duplicate_distance"],
)
def test_a_cleaning_param_change_re_cleans_what_it_affects(
    base, ingested, decodes, image, clean_params, decoded_again, monkeypatch, tmp_path
) -> None:
    raw, inventory = ingested(base)
    clean(raw, inventory)
    decodes.clear()

    staged, manifest = clean(raw, inventory, image, **clean_params)

    assert len(decodes) == decoded_again
    monkeypatch.setenv("CATDOG_CLEAN_CACHE_DIR", str(tmp_path / "empty-cache"))
    fresh_images, fresh = clean(raw, inventory, image, **clean_params)
    pd.testing.assert_frame_equal(manifest, fresh)
    assert folder_bytes(staged) == folder_bytes(fresh_images)


def corrupt_entries(cache: Path) -> list[str]:
    """Damage the entries of four photos in four ways; return the raw files' hashes."""
    entries = [
        path
        for path in sorted(cache.rglob("*"))
        if path.is_file() and b'"decoded"' in path.read_bytes().partition(b"\n")[0]
    ][:4]
    (first, second, third, fourth) = [
        (json.loads(header), jpeg)
        for header, _, jpeg in (path.read_bytes().partition(b"\n") for path in entries)
    ]
    entries[0].write_bytes(json.dumps(first[0]).encode() + b"\n" + first[1][:-10])  # truncated
    entries[1].write_bytes(b"{not json")
    third[0]["fields"]["width"] += 1  # a changed field, still valid JSON
    entries[2].write_bytes(json.dumps(third[0]).encode() + b"\n" + third[1])
    # crafted, checksum and all: a path that would write outside the output folder
    header, jpeg = fourth
    header["fields"]["image_path"] = "../../escaped.jpg"
    fields = json.dumps(header["fields"], sort_keys=True).encode()
    header["sha256"] = hashlib.sha256(fields + b"\n" + jpeg).hexdigest()
    entries[3].write_bytes(json.dumps(header).encode() + b"\n" + jpeg)
    return [path.name for path in entries]


def test_a_corrupt_cache_entry_is_recomputed_never_trusted(
    base, ingested, decodes, monkeypatch, tmp_path
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("CATDOG_CLEAN_CACHE_DIR", str(cache))
    raw, inventory = ingested(base)
    first_images, first = clean(raw, inventory)
    damaged = corrupt_entries(cache)
    decodes.clear()

    again_images, again = clean(raw, inventory)

    by_hash = inventory.set_index("file_sha256")["raw_path"]
    assert sorted(decodes) == sorted(Path(by_hash[digest]).name for digest in damaged)
    pd.testing.assert_frame_equal(first, again)
    assert folder_bytes(first_images) == folder_bytes(again_images)
    assert not list(tmp_path.rglob("escaped.jpg"))
    decodes.clear()
    clean(raw, inventory)
    assert decodes == [], "the damaged entries were rewritten"
