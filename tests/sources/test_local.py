"""fetch_source on local paths."""

import hashlib
import os

import pytest

from catdog_pipeline.sources import SourceError, fetch_source


def fetch(source, cache_dir, sha256=None):
    return fetch_source(source, sha256=sha256, cache_dir=cache_dir, progress=False)


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "data" / "pets.zip"
    path.parent.mkdir()
    path.write_bytes(b"not really a zip")
    return path


def test_absolute_file_returned_in_place(archive, tmp_path):
    assert fetch(str(archive), tmp_path / "cache") == archive
    assert not (tmp_path / "cache").exists()


def test_directory_returned_in_place(archive, tmp_path):
    assert fetch(str(archive.parent), tmp_path / "cache") == archive.parent


def test_relative_path_made_absolute(archive, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert fetch("data/pets.zip", tmp_path / "cache") == archive


def test_home_expanded(archive, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert fetch("~/data/pets.zip", tmp_path / "cache") == archive


def test_file_url(archive, tmp_path):
    assert fetch(archive.as_uri(), tmp_path / "cache") == archive


def test_missing_path(tmp_path):
    missing = tmp_path / "nowhere" / "pets.zip"
    with pytest.raises(SourceError, match="ingest.source") as error:
        fetch(str(missing), tmp_path / "cache")
    assert str(missing) in str(error.value) and "params.yaml" in str(error.value)


@pytest.mark.parametrize("source", ["", "   "])
def test_empty_source(tmp_path, source):
    with pytest.raises(SourceError, match="empty"):
        fetch(source, tmp_path)


def test_unsupported_scheme(tmp_path):
    with pytest.raises(SourceError, match="unsupported scheme 's3'"):
        fetch("s3://bucket/pets.zip", tmp_path)


def test_sha256_checked_for_local_file(archive, tmp_path):
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert fetch(str(archive), tmp_path, digest) == archive

    with pytest.raises(SourceError, match=f"expects {'1' * 64}") as error:
        fetch(str(archive), tmp_path, "1" * 64)
    assert digest in str(error.value)
    assert archive.exists()  # the user's own file is never deleted


def test_sha256_refused_for_directory(archive, tmp_path):
    with pytest.raises(SourceError, match="directory"):
        fetch(str(archive.parent), tmp_path, "1" * 64)


def test_fifo_source_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pets.zip"
    os.mkfifo(fifo)
    with pytest.raises(SourceError, match="neither a file nor a folder"):
        fetch(str(fifo), tmp_path / "cache")
