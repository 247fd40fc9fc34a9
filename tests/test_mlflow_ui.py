"""How runs look in the MLflow UI: telling names, links to the training view, the kind tag.

The hooks' part is tested on a real SQLite store with a stand-in Kedro context.

tests/test_mlflow_ui_browser.py opens the real UI in headless Chromium.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.catalog import copy_catalog

from catdog_pipeline.catalog_paths import dataset_path
from catdog_pipeline.hooks import RunProvenanceHook, TrainingRunHook
from catdog_pipeline.mlflow_ui import (
    EXPERIMENT_KIND_TAG,
    MODEL_TRAINING_KIND,
    artifact_location,
    describe_run,
    run_name,
    training_experiment,
    ui_base_url,
    ui_link,
)


def test_run_names_tell_architecture_data_and_commit_apart() -> None:
    md5, commit = "3f2a1c" + "0" * 26, "34dfc19" + "a" * 33

    assert run_name("xception_mini", md5, commit) == "xception_mini · data 3f2a1c · 34dfc19"
    assert run_name("simple_cnn", md5, commit, dirty=True).endswith("· 34dfc19-dirty")
    assert run_name("simple_cnn", None, None) == "simple_cnn · data ? · no git"


def test_a_run_is_described_by_the_project_it_runs_in(tmp_path: Path) -> None:
    split = dataset_path("split_manifest", copy_catalog(tmp_path))
    split.parent.mkdir(parents=True)
    split.write_bytes(b"a split manifest")
    md5 = hashlib.md5(b"a split manifest").hexdigest()
    params = {"train": {"architecture": "transfer", "transfer": {"backbone": "EfficientNetB0"}}}

    assert describe_run(params, tmp_path) == f"transfer:EfficientNetB0 · data {md5[:6]} · no git"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "code.py").write_text("v1")
    (tmp_path / ".gitignore").write_text("/data/\n")  # as in the project: DVC's, not git's
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=tmp_path, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short=7", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()

    described = describe_run({"train": {"architecture": "simple_cnn"}}, tmp_path)
    assert described == f"simple_cnn · data {md5[:6]} · {commit}"
    (tmp_path / "code.py").write_text("v2")
    assert describe_run({"train": {"architecture": "simple_cnn"}}, tmp_path).endswith("-dirty")


def test_links_open_the_training_view_of_the_right_ui() -> None:
    assert ui_base_url("sqlite:///mlflow.db", "127.0.0.1", "5000") == "http://127.0.0.1:5000"
    assert ui_base_url("http://mlflow.example:5000/", "127.0.0.1", 5000) == (
        "http://mlflow.example:5000"
    )
    assert ui_link("http://h:1", "7") == "http://h:1/#/experiments/7?workflowType=machine_learning"
    assert ui_link("http://h:1", "7", "abc") == (
        "http://h:1/#/experiments/7/runs/abc?workflowType=machine_learning"
    )


def test_the_experiment_is_marked_model_training_when_created_or_found(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    created = training_experiment(client, "catdog")
    assert client.get_experiment(created).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND
    before = client.get_experiment(created).last_update_time
    assert training_experiment(client, "catdog") == created  # found, left as it was
    assert client.get_experiment(created).last_update_time == before

    older = client.create_experiment("made before this project tagged its experiments")
    client.set_experiment_tag(older, EXPERIMENT_KIND_TAG, "genai_development")
    assert training_experiment(client, "made before this project tagged its experiments") == older
    assert client.get_experiment(older).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND


def test_a_local_stores_artifacts_stay_in_the_project_even_from_a_dvc_queue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DVC_ROOT", raising=False)
    project = tmp_path / "project"
    assert artifact_location("sqlite:///mlflow.db", project) == (project / "mlruns").as_uri()
    assert artifact_location("http://mlflow.example:5000", project) is None
    # `dvc exp run --queue` runs in .dvc/tmp/exps/<tmp>, deleted afterwards; DVC_ROOT: project
    monkeypatch.setenv("DVC_ROOT", str(project))
    queued_copy = project / ".dvc/tmp/exps/tmp1234"
    assert artifact_location("sqlite:///mlflow.db", queued_copy) == (project / "mlruns").as_uri()


@pytest.fixture
def active_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An active MLflow run in a SQLite store under `tmp_path`, the working directory."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    experiment_id = training_experiment(mlflow.MlflowClient(), "catdog")
    with mlflow.start_run(experiment_id=experiment_id, run_name="named at the start") as run:
        yield run


def _project(tmp_path: Path, split_bytes: bytes) -> SimpleNamespace:
    """A stand-in Kedro context: its project folder, with a split manifest, and params."""
    split = dataset_path("split_manifest", copy_catalog(tmp_path))
    split.parent.mkdir(parents=True, exist_ok=True)
    split.write_bytes(split_bytes)
    ui = SimpleNamespace(host="127.0.0.1", port="5000")
    params = {"train": {"architecture": "simple_cnn"}}
    return SimpleNamespace(project_path=tmp_path, params=params, mlflow=SimpleNamespace(ui=ui))


def test_a_run_that_rebuilds_its_split_is_renamed_and_retagged(active_run, tmp_path) -> None:
    import mlflow

    context = _project(tmp_path, b"the split before")
    naming, provenance = TrainingRunHook(), RunProvenanceHook()
    naming.after_context_created(context)
    provenance.after_context_created(context)
    naming._auto_name = describe_run(context.params, tmp_path)
    mlflow.MlflowClient().update_run(active_run.info.run_id, name=naming._auto_name)
    provenance._run_id = active_run.info.run_id

    _project(tmp_path, b"the split this run made")  # `kedro run` rebuilt it
    for hook in (naming, provenance):
        hook.after_dataset_saved(dataset_name="split_manifest", data=None, node=None)

    run = mlflow.MlflowClient().get_run(active_run.info.run_id)
    new_md5 = hashlib.md5(b"the split this run made").hexdigest()
    assert run.info.run_name == f"simple_cnn · data {new_md5[:6]} · no git"
    assert run.data.tags["dvc.split_manifest.md5"] == new_md5


def test_a_run_named_otherwise_keeps_its_name(active_run, tmp_path) -> None:
    import mlflow

    naming = TrainingRunHook()
    naming.after_context_created(_project(tmp_path, b"a split"))
    naming._auto_name = "the name this hook chose"  # but mlflow.yml or a resumed run named it

    naming.after_dataset_saved(dataset_name="split_manifest", data=None, node=None)

    run_name_now = mlflow.MlflowClient().get_run(active_run.info.run_id).info.run_name
    assert run_name_now == "named at the start"


def test_the_end_of_a_tracked_run_logs_its_ui_link(active_run, tmp_path, caplog) -> None:
    provenance = RunProvenanceHook()
    provenance.after_context_created(_project(tmp_path, b"a split"))
    provenance._run_id = active_run.info.run_id
    provenance._experiment_id = active_run.info.experiment_id

    with caplog.at_level(logging.INFO, logger="catdog_pipeline.hooks"):
        provenance.after_pipeline_run()

    link = ui_link("http://127.0.0.1:5000", active_run.info.experiment_id, active_run.info.run_id)
    assert link in caplog.text
    assert f"mlflow ui --backend-store-uri sqlite:///{tmp_path / 'mlflow.db'}" in caplog.text
