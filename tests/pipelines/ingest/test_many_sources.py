"""A list of sources: each laid out in its own folder, every file's source in the inventory."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from catdog_pipeline.pipelines.ingest.nodes import build_raw_inventory, fetch_raw_images
from catdog_pipeline.sources import SourceError

from .conftest import CLASSES, write_dump


@pytest.fixture
def more_cats(tmp_path: Path, make_image) -> Path:
    """A second source of one class only, with a file at the same path as one of the first's."""
    folder = tmp_path / "more"
    make_image(folder / "PetImages/Cat/1.jpg", seed=11)
    make_image(folder / "PetImages/Cat/12.jpg", seed=12)
    return folder


def test_each_source_has_its_own_folder_and_the_inventory_names_it(
    tmp_path, make_image, more_cats, ingest_params
) -> None:
    first = write_dump(tmp_path / "dump", make_image)
    shutil.make_archive(str(tmp_path / "dump"), "zip", first)
    params = {**ingest_params(first), "source": [str(tmp_path / "dump.zip"), str(more_cats)]}

    staged, rejected = fetch_raw_images(params, CLASSES)
    inventory = build_raw_inventory(staged, rejected, params, CLASSES)

    assert sorted(p.name for p in staged.iterdir()) == [
        f"dump.zip-{hashlib.sha256(str(tmp_path / 'dump.zip').encode()).hexdigest()[:8]}",
        f"more-{hashlib.sha256(str(more_cats).encode()).hexdigest()[:8]}",
    ]
    same_name = inventory[inventory["original_path"] == "PetImages/Cat/1.jpg"]
    assert same_name["source"].tolist() == [str(tmp_path / "dump.zip"), str(more_cats)]
    assert same_name["label"].tolist() == ["cat", "cat"]
    for row in same_name.itertuples():
        content = (staged / row.raw_path).read_bytes()
        assert row.file_sha256 == hashlib.sha256(content).hexdigest()
    assert same_name["file_sha256"].nunique() == 2, "neither file overwrote the other"
    assert inventory.loc[inventory["status"] != "candidate", "file_sha256"].isna().all()
    assert inventory["source"].value_counts().to_dict() == {
        str(tmp_path / "dump.zip"): 5,
        str(more_cats): 2,
    }


def test_a_source_without_labelled_images_is_named_and_nothing_is_kept(
    tmp_path, make_image, more_cats, ingest_params
) -> None:
    first = write_dump(tmp_path / "dump", make_image)
    unlabelled = tmp_path / "holiday"
    make_image(unlabelled / "beach/1.jpg")

    with pytest.raises(SourceError, match=f"{unlabelled} holds no labelled image of cat or dog"):
        fetch_raw_images(
            {**ingest_params(first), "source": [str(first), str(unlabelled), str(more_cats)]},
            CLASSES,
        )
    assert not list((tmp_path / "staging").glob("catdog-ingest-*"))


def test_the_sources_together_need_every_class(tmp_path, make_image, more_cats, ingest_params):
    cats = tmp_path / "cats"
    make_image(cats / "cats/3.jpg", seed=3)

    with pytest.raises(SourceError, match="The sources together .* no labelled image of dog"):
        fetch_raw_images({**ingest_params(cats), "source": [str(cats), str(more_cats)]}, CLASSES)


def test_each_source_is_checked_against_its_own_pin(
    tmp_path, make_image, more_cats, ingest_params
) -> None:
    first = write_dump(tmp_path / "dump", make_image)
    archive = shutil.make_archive(str(tmp_path / "dump"), "zip", first)
    digest = hashlib.sha256(Path(archive).read_bytes()).hexdigest()
    sources = [str(more_cats), archive]

    pinned = {**ingest_params(first), "source": sources, "sha256": [None, digest]}

    staged, _ = fetch_raw_images(pinned, CLASSES)
    assert len(list(staged.rglob("*.jpg"))) == 5
    with pytest.raises(SourceError, match="ingest.sha256 expects " + "0" * 64):
        fetch_raw_images({**pinned, "sha256": [None, "0" * 64]}, CLASSES)


def test_the_size_cap_holds_for_all_sources_together(tmp_path, make_image, ingest_params):
    first = write_dump(tmp_path / "dump", make_image)
    archive = shutil.make_archive(str(tmp_path / "more"), "zip", first)
    size = sum(path.stat().st_size for path in first.rglob("*") if path.is_file())
    capped = {**ingest_params(first), "source": [str(first), archive]}

    with pytest.raises(SourceError, match=f"before {archive} already hold {size} bytes"):
        fetch_raw_images({**capped, "max_uncompressed_bytes": size}, CLASSES)
    with pytest.raises(SourceError, match="over the limit of 10 bytes"):
        fetch_raw_images({**capped, "max_uncompressed_bytes": size + 10}, CLASSES)
    assert not list((tmp_path / "staging").glob("catdog-ingest-*"))
