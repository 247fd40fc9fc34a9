"""Ingest: labels from either layout, non-images skipped, archives and folders laid out safely."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from catdog_pipeline.pipelines.ingest.nodes import (
    build_raw_inventory,
    fetch_raw_images,
    label_for,
    skip_reason,
)

from .conftest import CLASSES, write_dump


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("PetImages/Cat/1.jpg", "cat"),
        ("PetImages/Dog/1.jpg", "dog"),
        ("train/dogs/x.jpg", "dog"),
        ("a/b/c/CATS/deep/er/x.jpg", "cat"),
        ("cats/dogs/x.jpg", "dog"),  # the deepest class folder wins
        ("train/cat.123.jpg", "cat"),
        ("dog.7.jpg", "dog"),
        ("Dog_12.PNG", "dog"),
        ("puppy-3.jpeg", "dog"),
        ("test1/123.jpg", None),
        ("catalogue/1.jpg", None),
        ("category.5.jpg", None),
    ],
)
def test_labels_from_folders_at_any_depth_or_kaggle_names(path: str, label: str | None) -> None:
    assert label_for(path, CLASSES) == label


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("PetImages/Cat/.DS_Store", "system_file"),
        ("PetImages/Cat/Thumbs.db", "system_file"),
        ("__MACOSX/PetImages/Cat/._1.jpg", "system_file"),
        ("PetImages/Cat/._1.jpg", "system_file"),
        ("PetImages/readme.txt", "not_an_image_file"),
        ("PetImages/Cat/labels.csv", "not_an_image_file"),
        ("PetImages/Cat/1.jpg", None),
        ("PetImages/Cat/1.JPEG", None),
        ("PetImages/Cat/1.webp", None),
    ],
)
def test_non_images_are_recognised(path: str, reason: str | None) -> None:
    assert skip_reason(path) == reason


def test_inventory_lists_every_file_and_rejected_entry(tmp_path: Path, make_image) -> None:
    raw = write_dump(tmp_path / "raw", make_image)
    rejected = pd.DataFrame(
        {"source": ["dump.zip"], "original_path": ["../evil.jpg"], "reason": ["parent_traversal"]}
    )
    inventory = build_raw_inventory(raw, rejected, {"source": "dump.zip"}, CLASSES)
    inventory = inventory.set_index("original_path")
    assert len(inventory) == 6
    assert inventory.loc["PetImages/Cat/1.jpg", ["label", "status"]].tolist() == [
        "cat",
        "candidate",
    ]
    assert inventory.loc["PetImages/unknown/3.jpg", "reason"] == "unlabelled"
    assert inventory.loc["PetImages/Cat/Thumbs.db", "reason"] == "system_file"
    assert inventory.loc["../evil.jpg", ["status", "reason"]].tolist() == [
        "rejected",
        "parent_traversal",
    ]
    assert pd.isna(inventory.loc["../evil.jpg", "raw_path"])


def test_inventory_without_labelled_images_says_what_to_check(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "readme.txt").write_text("nothing here")
    empty = pd.DataFrame(columns=["source", "original_path", "reason"])
    with pytest.raises(ValueError, match="ingest.source"):
        build_raw_inventory(raw, empty, {"source": str(raw)}, CLASSES)


def test_local_folder_is_copied(tmp_path: Path, make_image, ingest_params) -> None:
    source = write_dump(tmp_path / "dump", make_image)
    staged, rejected = fetch_raw_images(ingest_params(source), CLASSES)
    assert (staged / "PetImages/Cat/1.jpg").read_bytes() == (
        source / "PetImages/Cat/1.jpg"
    ).read_bytes()
    assert rejected.empty
    assert (source / "PetImages/Cat/1.jpg").exists(), "the source folder is left untouched"


def test_zip_with_unsafe_entries_is_extracted_safely(tmp_path: Path, ingest_params) -> None:
    archive = tmp_path / "dump.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("PetImages/Cat/1.jpg", b"photo")
        zipped.writestr("PetImages/Dog/2.jpg", b"photo")
        zipped.writestr("../escape.jpg", b"evil")
        zipped.writestr("/etc/absolute.jpg", b"evil")
    staged, rejected = fetch_raw_images(ingest_params(archive), CLASSES)
    assert (staged / "PetImages/Cat/1.jpg").read_bytes() == b"photo"
    assert sorted(rejected["reason"]) == ["absolute_path", "parent_traversal"]
    assert not (tmp_path / "escape.jpg").exists()
    assert not (staged.parent / "escape.jpg").exists()


def test_tar_gz_with_a_link_outside_is_extracted_safely(tmp_path: Path, ingest_params) -> None:
    archive = tmp_path / "dump.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("train/dog.1.jpg", "train/cat.1.jpg"):
            member = tarfile.TarInfo(name)
            member.size = 5
            tar.addfile(member, io.BytesIO(b"photo"))
        link = tarfile.TarInfo("train/cat.2.jpg")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    staged, rejected = fetch_raw_images(ingest_params(archive), CLASSES)
    assert (staged / "train/dog.1.jpg").read_bytes() == b"photo"
    assert not (staged / "train/cat.2.jpg").exists()
    assert rejected.to_dict("records") == [
        {
            "source": str(archive),
            "original_path": "train/cat.2.jpg",
            "reason": "link_outside_target",
        }
    ]


def test_an_archive_is_ingested_over_http(web_folder, make_image, ingest_params) -> None:
    folder, base_url = web_folder
    dump = write_dump(folder / "dump", make_image)
    shutil.make_archive(str(folder / "pets"), "zip", dump)
    params = ingest_params(f"{base_url}/pets.zip")
    staged, rejected = fetch_raw_images(params, CLASSES)
    inventory = build_raw_inventory(staged, rejected, params, CLASSES)
    assert sorted(inventory.loc[inventory["status"] == "candidate", "label"]) == ["cat", "dog"]
    assert (staged / "PetImages/Dog/2.jpg").read_bytes() == (
        dump / "PetImages/Dog/2.jpg"
    ).read_bytes()
