"""A source that yields no usable images never replaces data/01_raw/images, and says why."""

from __future__ import annotations

import io
import logging
import os
import re
import zipfile
from pathlib import Path

import pytest

from catdog_pipeline.datasets import ImageFolderDataset
from catdog_pipeline.pipelines.ingest.nodes import build_raw_inventory, fetch_raw_images
from catdog_pipeline.sources import DamagedFileError, SourceError

from .conftest import CLASSES


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


GOOD = zip_bytes({"PetImages/Cat/1.jpg": os.urandom(3000), "PetImages/Dog/2.jpg": b"dog"})


@pytest.fixture
def raw(tmp_path: Path) -> ImageFolderDataset:
    """data/01_raw/images holding the previous run's data."""
    previous = tmp_path / "data" / "01_raw" / "images" / "PetImages" / "Cat"
    previous.mkdir(parents=True)
    (previous / "old.jpg").write_bytes(b"previous data")
    return ImageFolderDataset(path=str(tmp_path / "data" / "01_raw" / "images"))


def ingest(raw: ImageFolderDataset, params: dict) -> None:
    """What `kedro run --pipeline ingest` does with the two nodes' outputs."""
    staged, rejected = fetch_raw_images(params, CLASSES)
    raw.save(staged)
    build_raw_inventory(raw.load(), rejected, params, CLASSES)


def assert_previous_data_kept(raw: ImageFolderDataset, tmp_path: Path) -> None:
    assert [p.name for p in raw.load().rglob("*.jpg")] == ["old.jpg"]
    assert not list((tmp_path / "staging").glob("catdog-ingest-*")), "staging left behind"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (zip_bytes({}), "holds no labelled image of cat or dog (0 files"),
        (zip_bytes({"cats/1.jpg": b"cat", "notes.txt": b"x"}), "no labelled image of dog (2 files"),
        (os.urandom(4000), "is not a zip or tar archive"),
        (GOOD[:2000], "is a zip that is truncated at byte 2000"),
        (GOOD.replace(b"dog", b"cow"), "corrupt"),  # a member failing its CRC
    ],
    ids=["empty zip", "one class", "random bytes", "truncated zip", "bad crc"],
)
def test_bad_local_archive_keeps_previous_data(raw, tmp_path, ingest_params, content, expected):
    archive = tmp_path / "pets.zip"
    archive.write_bytes(content)

    with pytest.raises(SourceError, match=re.escape(expected)) as error:
        ingest(raw, ingest_params(archive))

    assert str(archive) in str(error.value) and "params.yaml" in str(error.value)
    assert_previous_data_kept(raw, tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"<!DOCTYPE html>\n<html><body>Quota exceeded</body></html>", "is an HTML page"),
        (b"OK", "is only 2 bytes long"),
        (GOOD[:-30], "is a zip that is truncated at byte"),
    ],
    ids=["html page", "short body", "truncated"],
)
def test_bad_download_keeps_previous_data_and_is_not_cached(
    raw, tmp_path, ingest_params, web_folder, content, expected
):
    folder, base = web_folder
    (folder / "pets.zip").write_bytes(content)

    with pytest.raises(DamagedFileError, match=re.escape(expected)) as error:
        ingest(raw, ingest_params(f"{base}/pets.zip"))

    assert str(error.value).startswith(f"The file downloaded from {base}/pets.zip (")
    assert "next run fetches it again" in str(error.value)
    assert_previous_data_kept(raw, tmp_path)
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    (folder / "pets.zip").write_bytes(GOOD)  # the server is fixed: the next run succeeds
    ingest(raw, ingest_params(f"{base}/pets.zip"))
    assert (raw.load() / "PetImages/Dog/2.jpg").read_bytes() == b"dog"


def test_damaged_cached_download_is_fetched_again(raw, tmp_path, ingest_params, web_folder, caplog):
    folder, base = web_folder
    (folder / "pets.zip").write_bytes(GOOD)
    ingest(raw, ingest_params(f"{base}/pets.zip"))
    (cached,) = (tmp_path / "cache").rglob("pets.zip")
    cached.write_bytes(GOOD[:1500])  # a disk error, an interrupted copy...

    with caplog.at_level(logging.WARNING):
        ingest(raw, ingest_params(f"{base}/pets.zip"))

    assert "Discarded the cached download" in caplog.text
    assert cached.read_bytes() == GOOD
    assert (raw.load() / "PetImages/Cat/1.jpg").stat().st_size == 3000


def test_readable_archive_without_labels_stays_cached(raw, tmp_path, ingest_params, web_folder):
    folder, base = web_folder
    (folder / "pets.zip").write_bytes(zip_bytes({"photos/1.jpg": b"x"}))
    with pytest.raises(SourceError, match="no labelled image"):
        ingest(raw, ingest_params(f"{base}/pets.zip"))
    (folder / "pets.zip").unlink()  # no second download: the same answer, from the cache

    with pytest.raises(SourceError, match="no labelled image"):
        ingest(raw, ingest_params(f"{base}/pets.zip"))
    assert_previous_data_kept(raw, tmp_path)


def test_folder_whose_images_are_links_outside_keeps_previous_data(raw, tmp_path, ingest_params):
    outside = tmp_path / "elsewhere"
    (outside / "cats").mkdir(parents=True)
    (outside / "cats" / "1.jpg").write_bytes(b"cat")
    source = tmp_path / "dump"
    source.mkdir()
    (source / "cats").symlink_to(outside / "cats", target_is_directory=True)
    (source / "dog.1.jpg").symlink_to("/etc/passwd")

    with pytest.raises(SourceError, match="no labelled image of cat or dog .*2 entries rejected"):
        ingest(raw, ingest_params(source))
    assert_previous_data_kept(raw, tmp_path)


def test_download_size_cap_comes_from_params(raw, tmp_path, ingest_params, web_folder):
    folder, base = web_folder
    (folder / "pets.zip").write_bytes(GOOD)

    with pytest.raises(SourceError, match="ingest.max_download_bytes"):
        ingest(raw, ingest_params(f"{base}/pets.zip", max_download_bytes=1000))
    assert_previous_data_kept(raw, tmp_path)
