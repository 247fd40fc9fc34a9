"""The project after the README's `make run`, built once per test session for the e2e tests.

Reproducing the sample takes minutes, so the session does it once, in a copy of the project,
and keeps a pristine copy of the result beside it. A test that only reads the result takes
`reproduced_project`; a test that changes it (params, DVC experiments, the cache, the MLflow
registry) takes `changeable_reproduced_project`, and whichever test comes next gets the folder
restored from the pristine copy first. So every test sees the project exactly as `make run`
left it, whatever ran before it, and runs alone as well as in the suite.

The MLflow store is the project's own mlflow.db, as for a user (`mlflow ui --backend-store-uri
sqlite:///mlflow.db` finds the runs), named by an absolute MLFLOW_TRACKING_URI for the tests'
own clients; the folder keeps its absolute path because the store records artifacts by it.

The machine has two cores and pytest uses one: when the session holds tests that need the
reproduced project, `make run` starts (niced) as soon as the tests are collected and runs
beside the unit tests; a thread then keeps the pristine copy and, if tests/test_dvc_sweep.py
is to run, queues and starts its sweep (tests/sweep.py), which runs beside the tests too. The
fixtures wait for that thread. Both use the environment as it was at collection, not as a
test running meanwhile may have changed it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.project_copy import copy_project, isolate_environment, isolated_variables
from tests.sweep import QueuedSweep, prepare_sweep, start_sweep, stop_sweep

STORE = "mlflow.db"  # the project's MLflow store, the default of conf/base/mlflow.yml
MAKE_RUN_SECONDS = 1800
REPRODUCTION_TIMEOUT = MAKE_RUN_SECONDS + 600  # pytest-timeout for a test that may wait for it
BACKGROUND_NICENESS = 10


def run(args: list[str], cwd: Path) -> str:
    """Run a command in the project copy; fail the test with its output if it fails."""
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr}"
    return done.stdout + done.stderr


def stages_run(output: str) -> list[str]:
    """The DVC stages a `dvc repro` or `dvc exp run` output says it ran, in order."""
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def uses(items: list[pytest.Item], fixture: str) -> bool:
    return any(fixture in getattr(item, "fixturenames", ()) for item in items)


@dataclass
class Reproduction:
    scratch: Path  # project/ (with its mlflow.db and mlruns/), caches, the make run log
    with_sweep: bool = False  # queue and start the README sweep once `make run` is done
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    make_run: subprocess.Popen | None = None
    make_run_output: str = ""
    changed: bool = False
    sweep: QueuedSweep | None = None
    _preparing: threading.Thread | None = None
    _failure: BaseException | None = None

    @property
    def project(self) -> Path:
        return self.scratch / "project"

    @property
    def pristine(self) -> Path:
        return self.scratch / "pristine"

    @property
    def variables(self) -> dict[str, str]:
        """Caches and staging in the scratch folder, MLflow in the project's mlflow.db."""
        return {
            **isolated_variables(self.scratch, self.environ),
            "MLFLOW_TRACKING_URI": f"sqlite:///{self.project / STORE}",
        }

    def start(self) -> None:
        """`make run` (with the venv the tests run in) in a fresh copy, in the background."""
        copy_project(self.project)
        # The venv the tests run in, taken as installed (-o): the copy must never reinstall it.
        venv = ["VENV=" + sys.prefix, "-o", f"{sys.prefix}/bin/.installed"]
        env = {
            **self.environ,
            **self.variables,
            "CATDOG_CLEAN_CACHE_DIR": str(self.scratch / "clean-cache"),
            "CATDOG_CHECKPOINT_DIR": str(self.scratch / "checkpoints"),
        }
        with open(self.scratch / "make-run.log", "w") as log:
            self.make_run = subprocess.Popen(
                ["nice", "-n", str(BACKGROUND_NICENESS), "make", "run", *venv],
                cwd=self.project,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends make and its children
            )
        self._preparing = threading.Thread(target=self._prepare, daemon=True)
        self._preparing.start()

    def _prepare(self) -> None:
        """After `make run`: the pristine copy, then the sweep (in the background thread)."""
        try:
            returncode = self.make_run.wait(timeout=MAKE_RUN_SECONDS)
            self.make_run_output = (self.scratch / "make-run.log").read_text()
            assert returncode == 0, f"make run failed:\n{self.make_run_output[-5000:]}"
            shutil.copytree(self.project, self.pristine, symlinks=True)
            if self.with_sweep:
                self.sweep = prepare_sweep(self.pristine, self.scratch / "sweep", self.environ)
                start_sweep(self.sweep)
        except BaseException as failure:  # raised again by wait(), in the test that waits
            self._failure = failure

    def wait(self) -> None:
        """Until `make run` is done and the rest prepared; fails as that did, if it did."""
        self._preparing.join()
        if self._failure is not None:
            raise self._failure

    def restore_if_changed(self) -> None:
        if not self.changed:
            return
        for entry in self.project.iterdir():
            if entry.name == STORE:
                continue
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        ignore = shutil.ignore_patterns(STORE)
        shutil.copytree(
            self.pristine, self.project, symlinks=True, dirs_exist_ok=True, ignore=ignore
        )
        # Rewritten in place: this process's open SQLite connections then read the copy.
        shutil.copyfile(self.pristine / STORE, self.project / STORE)
        self.changed = False

    def isolate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        isolate_environment(monkeypatch, self.scratch)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", self.variables["MLFLOW_TRACKING_URI"])

    def stop(self) -> None:
        """End whatever still runs in the background, and remove the scratch folder."""
        if self.make_run is not None and self.make_run.poll() is None:
            os.killpg(self.make_run.pid, signal.SIGKILL)
            self.make_run.wait()
        if self._preparing is not None:
            self._preparing.join(timeout=300)
        if self.sweep is not None:
            stop_sweep(self.sweep)
        shutil.rmtree(self.scratch, ignore_errors=True)


_session: dict[str, Reproduction] = {}


def _begin(items: list[pytest.Item]) -> Reproduction:
    scratch = Path(tempfile.mkdtemp(prefix="catdog-reproduced-"))
    reproduction = Reproduction(scratch, with_sweep=uses(items, "queued_sweep"))
    _session["reproduction"] = reproduction
    reproduction.start()
    return reproduction


def start_background_work(session: pytest.Session) -> None:
    """At the end of collection: start `make run` if a collected test needs its result."""
    if not session.config.option.collectonly and uses(session.items, "reproduction"):
        _begin(session.items)


def stop_background_work() -> None:
    if "reproduction" in _session:
        _session.pop("reproduction").stop()


@pytest.fixture(scope="session")
def reproduction(request: pytest.FixtureRequest) -> Reproduction:
    """The session's `make run` (and the sweep's start, if it is to run), waited for."""
    # Begun at collection, unless that did not foresee it (e.g. a test added by a plugin).
    reproduction = _session.get("reproduction") or _begin(request.session.items)
    reproduction.wait()
    return reproduction


@pytest.fixture
def reproduced_project(reproduction: Reproduction, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project as `make run` left it, its MLflow store in MLFLOW_TRACKING_URI; read only."""
    reproduction.restore_if_changed()
    reproduction.isolate(monkeypatch)
    return reproduction.project


@pytest.fixture
def changeable_reproduced_project(
    reproduction: Reproduction, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """`reproduced_project` for a test that changes it: the next test gets it restored."""
    reproduction.restore_if_changed()
    reproduction.isolate(monkeypatch)
    reproduction.changed = True  # before the test: a failure half-way changes it too
    yield reproduction.project


@pytest.fixture
def queued_sweep(reproduction: Reproduction) -> QueuedSweep:
    """The README's sweep, queued and started on a copy of the reproduced project."""
    assert reproduction.sweep is not None, "the sweep was not foreseen at collection"
    return reproduction.sweep
