"""A training run killed with -9 is marked FAILED by the next tracked stage, and only such runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
import yaml
from tests.splits import install_clean_images, make_split

from catdog_pipeline.processes import host_name
from catdog_pipeline.run_liveness import (
    FAILURE_TAG,
    HOST_TAG,
    PID_TAG,
    PROJECT_TAG,
    RunLivenessHook,
    fail_abandoned_runs,
)


@pytest.fixture
def client(tmp_path: Path, monkeypatch) -> Iterator[mlflow.MlflowClient]:
    """A throwaway SQLite tracking store, set as the tracking URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield mlflow.MlflowClient(uri)
    mlflow.set_tracking_uri(None)


def dead_pid() -> int:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(finished.stdout)


def fake_run(client, experiment_id: str, pid: int | None, host: str, project: Path) -> str:
    """A run left RUNNING, as a process killed mid-run leaves it."""
    tags = {} if pid is None else {PID_TAG: str(pid), HOST_TAG: host, PROJECT_TAG: str(project)}
    return client.create_run(experiment_id, tags=tags).info.run_id


def test_only_runs_whose_process_is_gone_are_failed(client, tmp_path: Path) -> None:
    project = tmp_path / "project"
    experiment = client.create_experiment("catdog")
    here = host_name()
    killed = fake_run(client, experiment, dead_pid(), here, project)
    alive = fake_run(client, experiment, os.getppid(), here, project)
    elsewhere = fake_run(client, experiment, dead_pid(), "another-host", project)
    other_project = fake_run(client, experiment, dead_pid(), here, tmp_path / "other")
    untagged = fake_run(client, experiment, None, here, project)
    finished = fake_run(client, experiment, dead_pid(), here, project)
    client.set_terminated(finished, status="FINISHED")

    assert fail_abandoned_runs(client, experiment, project) == [killed]

    status = {
        run_id: client.get_run(run_id).info.status
        for run_id in (killed, alive, elsewhere, other_project, untagged, finished)
    }
    assert status == {
        killed: "FAILED",
        alive: "RUNNING",
        elsewhere: "RUNNING",
        other_project: "RUNNING",
        untagged: "RUNNING",
        finished: "FINISHED",
    }
    assert "ended without closing the run" in client.get_run(killed).data.tags[FAILURE_TAG]
    assert client.get_run(killed).info.end_time is not None


def test_the_hook_tags_the_active_run_and_fails_the_stale_one(client, tmp_path: Path) -> None:
    project = (tmp_path / "project").resolve()
    experiment = client.create_experiment("catdog")
    stale = fake_run(client, experiment, dead_pid(), host_name(), project)
    hook = RunLivenessHook()
    hook.after_context_created(SimpleNamespace(project_path=project))

    with mlflow.start_run(experiment_id=experiment) as active:
        hook.before_pipeline_run()
        tags = client.get_run(active.info.run_id).data.tags

    assert tags[PID_TAG] == str(os.getpid()) and tags[HOST_TAG] == host_name()
    assert tags[PROJECT_TAG] == str(project)
    assert client.get_run(stale).info.status == "FAILED"


def test_an_untracked_pipeline_touches_no_run(client, tmp_path: Path) -> None:
    """The data stages have no run: they neither tag one nor search the store."""
    experiment = client.create_experiment("catdog")
    stale = fake_run(client, experiment, dead_pid(), host_name(), tmp_path.resolve())
    hook = RunLivenessHook()
    hook.after_context_created(SimpleNamespace(project_path=tmp_path))
    hook.before_pipeline_run()
    assert client.get_run(stale).info.status == "RUNNING"


@pytest.mark.slow
def test_a_training_killed_with_9_is_failed_by_the_next_stage(project_copy: Path, tmp_path) -> None:
    # What the data stages would leave: clean 32x32 images and their split manifest.
    manifest, clean_images = make_split(tmp_path / "split", {"train": 8, "val": 4, "test": 2})
    (project_copy / "data/03_primary").mkdir(parents=True, exist_ok=True)
    manifest.to_parquet(project_copy / "data/03_primary/split.parquet")
    install_clean_images(project_copy, clean_images)
    params_file = project_copy / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["image"]["size"] = [32, 32]
    params["train"].update(architecture="simple_cnn", epochs=500)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    kedro = ["kedro", "run", "--pipeline"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": project_copy}
    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])

    training = subprocess.Popen([*kedro, "train"], **quiet)
    try:
        deadline = time.monotonic() + 300
        runs = []
        while not runs:
            assert training.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline, "no tagged MLflow run appeared"
            time.sleep(1)
            runs = mlflow.search_runs(
                search_all_experiments=True,
                filter_string=f"tags.`{PID_TAG}` = '{training.pid}'",
                output_format="list",
            )
    finally:
        training.kill()  # SIGKILL: kedro-mlflow gets no chance to end its run
        training.wait(timeout=60)
    (killed,) = runs
    assert client.get_run(killed.info.run_id).info.status == "RUNNING"

    # The next tracked stage (here one that then fails: there is no model) cleans up.
    subprocess.run([*kedro, "evaluate"], timeout=600, **quiet)

    assert client.get_run(killed.info.run_id).info.status == "FAILED"
