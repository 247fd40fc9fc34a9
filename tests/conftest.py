"""Shared fixtures: the committed photo sample, a throwaway project copy, tiny images."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SESSION_EXPERIMENT_ENV = os.environ.get("MLFLOW_EXPERIMENT_ID")


@pytest.fixture(autouse=True)
def isolated_training_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Training run in-process keeps its checkpoints in the test's folder, not the checkout's."""
    monkeypatch.setenv("CATDOG_CHECKPOINT_DIR", str(tmp_path / "checkpoints"))


@pytest.fixture(autouse=True)
def isolated_clean_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clean run in-process or in a subprocess caches its results in the test's folder."""
    monkeypatch.setenv("CATDOG_CLEAN_CACHE_DIR", str(tmp_path / "clean-cache"))


@pytest.fixture(autouse=True)
def forget_mlflow_experiment() -> Iterator[None]:
    """`mlflow.set_experiment` is remembered process-wide (and exported as MLFLOW_EXPERIMENT_ID,
    which subprocesses inherit), across tracking stores: after each test, forget it, whoever
    set it (a test, a module fixture or a Kedro session run in-process)."""
    yield
    if SESSION_EXPERIMENT_ENV is None:
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    else:
        os.environ["MLFLOW_EXPERIMENT_ID"] = SESSION_EXPERIMENT_ENV
    fluent = sys.modules.get("mlflow.tracking.fluent")
    if fluent is not None:
        while fluent.active_run() is not None:
            fluent.end_run()
        fluent._active_experiment_id = None


@pytest.fixture(scope="session")
def project_root() -> Path:
    """The checkout under test."""
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def sample_zip() -> Path:
    """The committed 600-photo sample (samples/README.md), the default `ingest.source`."""
    return PROJECT_ROOT / "samples" / "petimages-mini.zip"


def project_files() -> list[str]:
    """The project's files as git sees them: tracked, plus untracked ones it does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name})


def copy_project(destination: Path) -> Path:
    """Copy the project (code, config, DVC files; no data, no venv) into a fresh git repo."""
    for name in project_files():
        source = PROJECT_ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=destination, check=True)
    subprocess.run([*git, "add", "-A"], cwd=destination, check=True)
    subprocess.run([*git, "commit", "-qm", "project copy"], cwd=destination, check=True)
    return destination


def isolate_environment(monkeypatch: pytest.MonkeyPatch, scratch: Path) -> None:
    """Send downloads, staging folders and MLflow runs into `scratch`, away from the user's."""
    monkeypatch.setenv("CATDOG_CACHE_DIR", str(scratch / "download-cache"))
    monkeypatch.setenv("CATDOG_STAGING_DIR", str(scratch / "staging"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{scratch / 'mlflow.db'}")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway copy of the project to run Kedro and DVC in, with its own caches and runs."""
    isolate_environment(monkeypatch, tmp_path)
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="module")
def module_project_copy(tmp_path_factory: pytest.TempPathFactory):
    """`project_copy` shared by the tests of one module (for expensive end-to-end builds)."""
    scratch = tmp_path_factory.mktemp("project")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_environment(monkeypatch, scratch)
        yield copy_project(scratch / "project")


@pytest.fixture
def make_image() -> Callable[..., Path]:
    """Write a small test image: make_image(path, size=(w, h), mode='RGB', fmt='JPEG', seed=0)."""

    def make(
        path: Path,
        size: tuple[int, int] = (64, 48),
        mode: str = "RGB",
        fmt: str = "JPEG",
        seed: int = 0,
        **save_args,
    ) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A random 6x6 colour grid, smoothly upscaled: distinct seeds give distinct photos.
        grid = np.random.default_rng(seed).integers(0, 256, (6, 6, 3), dtype=np.uint8)
        image = Image.fromarray(grid).resize(size, Image.Resampling.BICUBIC)
        image.convert(mode).save(path, format=fmt, **save_args)
        return path

    return make
