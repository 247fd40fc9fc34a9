"""ImageFolderDataset and KerasModelDataset after crashes and kills."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kedro.io import DatasetError

from catdog_pipeline import datasets
from catdog_pipeline.datasets import ImageFolderDataset, KerasModelDataset


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def folder_with(path: Path, content: bytes) -> Path:
    path.mkdir(parents=True)
    (path / "1.jpg").write_bytes(content)
    return path


def siblings(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir())


@pytest.fixture
def raw(tmp_path: Path) -> ImageFolderDataset:
    return ImageFolderDataset(path=str(tmp_path / "data" / "images"))


def killed_between_renames(tmp_path: Path, pid: int) -> Path:
    """The state a kill between save's two renames leaves: the target moved aside."""
    target = tmp_path / "data" / "images"
    folder_with(target.with_name(f".images.old-{pid}"), b"previous")
    folder_with(target.with_name(f".images.new-{pid}-x1y2"), b"half moved")
    return target


def test_next_save_after_a_kill_between_renames_leaves_no_leftovers(raw, tmp_path, dead_pid):
    target = killed_between_renames(tmp_path, dead_pid)

    raw.save(folder_with(tmp_path / "staging" / "new", b"new"))

    assert (target / "1.jpg").read_bytes() == b"new"
    assert siblings(target) == ["images"]


def test_a_failing_save_after_a_kill_restores_the_previous_folder(
    raw, tmp_path, dead_pid, monkeypatch
):
    target = killed_between_renames(tmp_path, dead_pid)

    def disk_full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(datasets.shutil, "move", disk_full)
    with pytest.raises(DatasetError, match="No space left"):
        raw.save(folder_with(tmp_path / "staging" / "new", b"new"))

    assert (target / "1.jpg").read_bytes() == b"previous"
    assert siblings(target) == ["images"]


def test_a_fault_between_the_renames_puts_the_previous_folder_back(raw, tmp_path, monkeypatch):
    target = folder_with(tmp_path / "data" / "images", b"previous")
    real_replace = os.replace

    def fail_second(source, destination):
        if Path(destination) == target and ".old-" not in Path(source).name:
            raise OSError(5, "Input/output error")
        real_replace(source, destination)

    monkeypatch.setattr(datasets.os, "replace", fail_second)
    with pytest.raises(DatasetError, match="Input/output error"):
        raw.save(folder_with(tmp_path / "staging" / "new", b"new"))
    monkeypatch.undo()

    assert (target / "1.jpg").read_bytes() == b"previous"
    raw.save(folder_with(tmp_path / "staging" / "newer", b"newer"))
    assert (target / "1.jpg").read_bytes() == b"newer"
    assert siblings(target) == ["images"]


def test_leftovers_of_a_running_process_are_kept(raw, tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = folder_with(tmp_path / "data" / f".images.new-{parent.pid}-abc", b"busy")
        raw.save(folder_with(tmp_path / "staging" / "new", b"new"))
        assert busy.exists()
    finally:
        parent.kill()
        parent.wait()


class FakeModel:
    def save(self, path: Path) -> None:
        Path(path).write_bytes(b"model")


def test_stale_keras_temporaries_are_removed_on_save(tmp_path, dead_pid):
    models = tmp_path / "06_models"
    models.mkdir()
    stale = [models / f".model.{dead_pid}-{'a' * 32}.keras", models / f".model.{'b' * 32}.keras"]
    for path in stale:
        path.write_bytes(b"half a model")

    KerasModelDataset(filepath=str(models / "model.keras")).save(FakeModel())

    assert sorted(p.name for p in models.iterdir()) == ["model.keras"]
