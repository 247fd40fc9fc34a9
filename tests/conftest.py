"""Shared fixtures: the committed photo sample, project copies (a throwaway one, or the one
`make run` reproduced: tests/reproduced.py), tiny images."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tests.project_copy import PROJECT_ROOT, copy_project, isolate_environment
from tests.reproduced import (  # noqa: F401 (fixtures, for every test module)
    changeable_reproduced_project,
    queued_sweep,
    reproduced_project,
    reproduction,
    start_background_work,
    stop_background_work,
)

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SESSION_EXPERIMENT_ENV = os.environ.get("MLFLOW_EXPERIMENT_ID")


def pytest_collection_finish(session: pytest.Session) -> None:
    """`make run` for the end-to-end tests starts now, beside the others (tests/reproduced.py)."""
    start_background_work(session)


def pytest_sessionfinish() -> None:
    stop_background_work()


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
