"""Image folders as tar shards: layout, determinism, checks, and the Kedro dataset on top."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from kedro.io import DatasetError

from catdog_pipeline.datasets import ShardedImageFolderDataset
from catdog_pipeline.image_shards import (
    INDEX,
    ShardError,
    file_sha256,
    index_digest,
    pack,
    read_index,
    shard_layout,
    unpack,
    write_index,
)


def image_folder(root: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    return root


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


FILES = {f"{n:02x}/{n:02x}{'a' * 30}.jpg": bytes([n]) * (100 + n) for n in range(12)}


def test_layout_keeps_previous_shards_and_fills_the_last_before_opening_new_ones():
    sizes = dict.fromkeys(["a", "b", "c", "d", "e", "f", "g"], 10)

    layout = shard_layout(["a", "c", "d", "e", "f", "g"], [["c", "a"], ["b", "d"]], sizes, 30)

    # "b" is gone, so its shard is smaller; new names fill it to 30 bytes, then a new shard.
    assert layout == [["c", "a"], ["d", "e", "f"], ["g"]]


def test_layout_from_nothing_cuts_sorted_names_by_size_and_never_leaves_an_empty_shard():
    sizes = {"x": 50, "a": 10, "b": 10}

    assert shard_layout(["x", "b", "a"], [], sizes, 20) == [["a", "b"], ["x"]]
    assert shard_layout([], [["gone"]], {}, 20) == []


def test_pack_then_unpack_gives_the_same_files(tmp_path):
    folder = image_folder(tmp_path / "images", FILES)
    shards = tmp_path / "shards"
    shards.mkdir()

    index = pack(folder, shards, shard_bytes=500)
    unpack(shards, tmp_path / "out")

    assert tree(tmp_path / "out") == FILES
    assert index["images"] == 12
    assert len(index["shards"]) > 2
    assert sum(entry["images"] for entry in index["shards"]) == 12
    assert read_index(shards) == index


def test_packing_is_deterministic_whatever_the_files_times_or_modes(tmp_path):
    first = image_folder(tmp_path / "first", FILES)
    second = image_folder(tmp_path / "second", FILES)
    for path in second.rglob("*.jpg"):
        path.chmod(0o600)
    for name in ("one", "two"):
        (tmp_path / name).mkdir()

    pack(first, tmp_path / "one", shard_bytes=500)
    pack(second, tmp_path / "two", shard_bytes=500)

    assert index_digest(tmp_path / "one") == index_digest(tmp_path / "two")
    assert tree(tmp_path / "one") == tree(tmp_path / "two")


def test_adding_images_rewrites_only_the_last_shard_and_adds_new_ones(tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    before.mkdir()
    after.mkdir()
    pack(image_folder(tmp_path / "images", FILES), before, shard_bytes=500)
    added = {f"ff/{n}.jpg": b"new" * 60 for n in range(4)}

    pack(image_folder(tmp_path / "images", added), after, shard_bytes=500, previous=before)

    old = [entry["sha256"] for entry in read_index(before)["shards"]]
    new = [entry["sha256"] for entry in read_index(after)["shards"]]
    assert new[: len(old) - 1] == old[:-1]
    assert len(new) > len(old)
    unpack(after, tmp_path / "out")
    assert tree(tmp_path / "out") == {**FILES, **added}


def test_an_altered_shard_is_refused_and_named(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    pack(image_folder(tmp_path / "images", FILES), shards, shard_bytes=500)
    (shards / "shard-000001.tar").write_bytes(b"garbage")

    with pytest.raises(ShardError, match=r"shard-000001\.tar' is altered.*dvc pull"):
        unpack(shards, tmp_path / "out")


def test_a_shard_with_a_path_outside_the_folder_is_refused(tmp_path):
    shards = tmp_path / "shards"
    shards.mkdir()
    with tarfile.open(shards / "shard-000000.tar", "w") as tar:
        info = tarfile.TarInfo("../escaped.jpg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    entry = {"name": "shard-000000.tar", "sha256": file_sha256(shards / "shard-000000.tar")}
    write_index(shards, {"format": 1, "images": 1, "shards": [{**entry, "images": 1}]})

    with pytest.raises(tarfile.OutsideDestinationError):
        unpack(shards, tmp_path / "out")
    assert not (tmp_path / "escaped.jpg").exists()


def test_a_folder_without_an_index_or_with_a_foreign_one_gets_a_clear_error(tmp_path):
    with pytest.raises(ShardError, match="dvc pull"):
        read_index(tmp_path)
    (tmp_path / INDEX).write_text(json.dumps({"format": 99, "shards": []}))
    with pytest.raises(ShardError, match="format 99"):
        read_index(tmp_path)


@pytest.fixture
def dataset(tmp_path: Path) -> ShardedImageFolderDataset:
    data = tmp_path / "data"
    return ShardedImageFolderDataset(
        path=str(data / "image_shards"), unpacked=str(data / "images"), shard_mib=0.0005
    )


def test_save_then_load_reads_the_folder_and_dvc_sees_only_the_shards(dataset, tmp_path):
    dataset.save(image_folder(tmp_path / "staging" / "clean", FILES))

    folder = dataset.load()

    assert folder == tmp_path / "data" / "images"
    assert tree(folder) == FILES
    assert (tmp_path / "data" / "image_shards" / INDEX).is_file()
    assert sorted(
        p.name for p in (tmp_path / "data").iterdir() if not p.name.endswith(".lock")
    ) == [
        "image_shards",
        "images",
    ]


def test_load_after_a_dvc_pull_unpacks_the_shards_once(dataset, tmp_path, monkeypatch):
    dataset.save(image_folder(tmp_path / "staging" / "clean", FILES))
    shutil.rmtree(tmp_path / "data" / "images")  # a teammate's clone: `dvc pull` gave shards

    assert tree(dataset.load()) == FILES
    monkeypatch.setattr("catdog_pipeline.image_shards.unpack", pytest.fail)
    assert tree(dataset.load()) == FILES  # the second load reuses the unpacked folder


def test_load_replaces_a_folder_unpacked_from_other_shards(dataset, tmp_path):
    dataset.save(image_folder(tmp_path / "staging" / "first", FILES))
    other = ShardedImageFolderDataset(
        path=str(tmp_path / "other_shards"), unpacked=str(tmp_path / "data" / "images")
    )
    other.save(image_folder(tmp_path / "staging" / "second", {"aa/1.jpg": b"other"}))

    assert tree(dataset.load()) == FILES


def test_load_with_an_altered_shard_keeps_the_folder_and_names_the_shard(dataset, tmp_path):
    dataset.save(image_folder(tmp_path / "staging" / "clean", FILES))
    (tmp_path / "data" / "images" / ".unpacked-from").unlink()
    (tmp_path / "data" / "image_shards" / "shard-000000.tar").write_bytes(b"x")

    with pytest.raises(DatasetError, match="shard-000000.tar' is altered"):
        dataset.load()
    assert tree(tmp_path / "data" / "images") == FILES
    assert sorted(p.name for p in (tmp_path / "data").iterdir() if ".new-" in p.name) == []


def test_load_without_shards_says_what_to_run(dataset):
    with pytest.raises(DatasetError, match=r"dvc repro.*dvc pull"):
        dataset.load()


def test_two_processes_loading_at_once_unpack_once_and_both_read_a_whole_folder(dataset, tmp_path):
    dataset.save(image_folder(tmp_path / "staging" / "clean", FILES))
    shutil.rmtree(tmp_path / "data" / "images")
    data = tmp_path / "data"
    code = (
        "import json, sys; from catdog_pipeline.datasets import ShardedImageFolderDataset as D; "
        f"folder = D(path='{data / 'image_shards'}', unpacked='{data / 'images'}').load(); "
        "print(json.dumps(sorted(p.name for p in folder.rglob('*.jpg'))))"
    )
    readers = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]

    listings = [json.loads(reader.communicate(timeout=120)[0]) for reader in readers]

    assert all(reader.returncode == 0 for reader in readers)
    assert listings[0] == listings[1] == sorted(Path(name).name for name in FILES)
    assert tree(data / "images") == FILES
