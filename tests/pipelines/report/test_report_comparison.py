"""Comparing with the previous run: MLflow first, then the committed metrics, else said plainly;
and logging the report to the model's MLflow run."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import time
from pathlib import Path

import pytest

from catdog_pipeline.pipelines.report.comparison import compare_with_previous_run, metric_deltas
from catdog_pipeline.pipelines.report.datasets import CommittedJSONDataset
from catdog_pipeline.pipelines.report.render import log_report_to_mlflow

METRICS = {"accuracy": 0.90, "precision": 0.88, "recall": 0.92, "f1": 0.90, "roc_auc": 0.95,
           "log_loss": 0.30}  # fmt: skip
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


@pytest.fixture(autouse=True)
def _tracking_store(tmp_path, monkeypatch):
    """No test may touch the project's own mlflow.db."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_deltas_say_better_or_worse_with_log_loss_lower_is_better():
    previous = {**METRICS, "accuracy": 0.85, "log_loss": 0.40, "f1": 0.9001, "roc_auc": 0.97}
    rows = {row["name"]: row for row in metric_deltas(METRICS, previous)}
    assert rows["accuracy"]["verdict"] == "better"
    assert rows["accuracy"]["delta"] == pytest.approx(0.05)
    assert rows["log_loss"]["verdict"] == "better"  # it went down
    assert rows["roc_auc"]["verdict"] == "worse"
    assert rows["f1"]["verdict"] == "unchanged"
    assert rows["precision"]["delta"] == 0.0


def test_metrics_missing_on_either_side_are_left_out():
    rows = metric_deltas({**METRICS, "roc_auc": None}, {"accuracy": 0.5, "log_loss": 0.6})
    assert [row["name"] for row in rows] == ["accuracy", "log_loss"]


def test_no_previous_run_is_said_plainly():
    comparison = compare_with_previous_run(METRICS, {"mlflow_run_id": None}, None)
    assert comparison["source"] is None and comparison["rows"] == []
    assert comparison["note"].startswith("No previous run to compare with")


def test_committed_metrics_are_the_fallback():
    comparison = compare_with_previous_run(METRICS, {"mlflow_run_id": None}, {"accuracy": 0.8})
    assert "committed at git HEAD" in comparison["source"]
    assert [(row["name"], row["verdict"]) for row in comparison["rows"]] == [("accuracy", "better")]


def test_an_unreachable_tracking_server_is_skipped_quickly(monkeypatch, caplog):
    with socket.socket() as closed:  # a free port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        comparison = compare_with_previous_run(METRICS, {"mlflow_run_id": "abc"}, None)
    assert time.monotonic() - started < 10
    assert comparison["source"] is None
    assert "unreachable" in caplog.text


def _commit_metrics(repo: Path, metrics: dict) -> None:
    (repo / "reports").mkdir(parents=True, exist_ok=True)
    (repo / "reports" / "metrics.json").write_text(json.dumps(metrics))
    subprocess.run([*GIT, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "metrics"], cwd=repo, check=True)


def test_committed_metrics_are_read_from_head_not_the_working_tree(tmp_path):
    subprocess.run([*GIT, "init", "-q"], cwd=tmp_path, check=True)
    dataset = CommittedJSONDataset("reports/metrics.json", repo=str(tmp_path))
    assert dataset.load() is None  # no commit yet
    _commit_metrics(tmp_path, {"accuracy": 0.8})
    (tmp_path / "reports" / "metrics.json").write_text(json.dumps({"accuracy": 0.9}))
    assert dataset.load() == {"accuracy": 0.8}
    # As Kedro hands it over: the catalog's filepath made absolute.
    absolute = CommittedJSONDataset(str(tmp_path / "reports/metrics.json"), repo=str(tmp_path))
    assert absolute.load() == {"accuracy": 0.8}


def test_outside_git_there_are_no_committed_metrics(tmp_path):
    assert CommittedJSONDataset("reports/metrics.json", repo=str(tmp_path)).load() is None


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory) -> tuple[str, dict[str, str]]:
    """A tracking store (URI) with runs of experiment catdog, by name: old (with metrics),
    failed, previous (with metrics), untested, current (running)."""
    import mlflow

    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri)
    # Artifacts go beside the store: MLflow's default is ./mlruns, in the project.
    experiment = client.create_experiment("catdog", (folder / "artifacts").as_uri())
    runs = {}
    for name, status, metrics in [
        ("old", "FINISHED", {"test.accuracy": 0.70}),
        ("failed", "FAILED", {"test.accuracy": 0.10}),
        ("previous", "FINISHED", {"test.accuracy": 0.80, "test.log_loss": 0.50}),
        ("untested", "FINISHED", {}),  # e.g. a run that never reached evaluation
        ("current", "RUNNING", {"test.accuracy": 0.90}),
    ]:
        run = client.create_run(experiment, run_name=name)
        for key, value in metrics.items():
            client.log_metric(run.info.run_id, key, value)
        if status != "RUNNING":
            client.set_terminated(run.info.run_id, status)
        runs[name] = run.info.run_id
        time.sleep(0.01)  # distinct start times
    return uri, runs


@pytest.mark.slow
def test_mlflow_previous_finished_run_with_test_metrics_is_compared(mlflow_store, monkeypatch):
    uri, runs = mlflow_store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    comparison = compare_with_previous_run(
        METRICS, {"mlflow_run_id": runs["current"]}, {"accuracy": 0.1}
    )
    assert runs["previous"] in comparison["source"]
    rows = {row["name"]: row for row in comparison["rows"]}
    assert set(rows) == {"accuracy", "log_loss"}
    assert rows["accuracy"]["previous"] == pytest.approx(0.80)
    assert rows["log_loss"]["verdict"] == "better"


@pytest.mark.slow
def test_the_report_is_logged_to_the_model_run(mlflow_store, monkeypatch):
    import mlflow

    uri, runs = mlflow_store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = mlflow.MlflowClient(uri)
    card = {"mlflow_run_id": runs["current"]}
    log_report_to_mlflow("<html></html>", "# report", {"calibration": b"\x89PNG"}, card)
    logged = {item.path for item in client.list_artifacts(runs["current"], "report")}
    assert logged == {"report/report.html", "report/report.md", "report/figures"}
    figures = [item.path for item in client.list_artifacts(runs["current"], "report/figures")]
    assert figures == ["report/figures/calibration.png"]


def test_logging_without_a_run_id_is_skipped(tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        log_report_to_mlflow("<html></html>", "# report", {}, {"mlflow_run_id": None})
    assert "names no MLflow run" in caplog.text
    assert not (tmp_path / "mlflow.db").exists()
