"""A sweep as the README's "Sweeps with `dvc exp`" block runs it: each experiment one MLflow run.

The block runs in order (tests/sweep.py queues and starts it beside other tests; this test
waits for the queue and runs the rest), on a copy of the project as `make run` left it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient
from tests.reproduced import REPRODUCTION_TIMEOUT
from tests.sweep import QueuedSweep, shell, wait_for_the_queue

# The first test of a session may wait for `make run` (tests/reproduced.py): more than the
# default 600 s on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(REPRODUCTION_TIMEOUT)]


def experiments(shown: list[dict]) -> dict[str, dict]:
    """name -> {params, metrics} of every experiment in `dvc exp show --json`."""
    found = {}
    for baseline in shown:
        for experiment in baseline.get("experiments") or []:
            for rev in experiment["revs"]:
                data = rev["data"]
                found[rev["name"]] = {
                    "params": data["params"]["params.yaml"]["data"],
                    "metrics": data["metrics"]["reports/metrics.json"]["data"],
                }
    return found


def test_a_queued_sweep_gives_two_experiments_each_one_mlflow_run(
    queued_sweep: QueuedSweep,
) -> None:
    sweep, project, env = queued_sweep, queued_sweep.project, queued_sweep.env
    queued = [command for command in sweep.commands if command.startswith("dvc exp run --queue")]
    assert len(queued) == len(sweep.names) == 2
    status = wait_for_the_queue(sweep)
    for name in sweep.names:
        assert re.search(rf"\b{name}\b.*\bSuccess\b", status), status

    for command in sweep.commands[sweep.started :]:
        if command.startswith("dvc exp show"):
            table = shell(command, project, env)
            assert all(name in table for name in sweep.names), table
            shown = experiments(json.loads(shell("dvc exp show --json", project, env)))
        elif command.startswith("dvc exp apply"):
            best = min(sweep.names, key=lambda name: shown[name]["metrics"]["log_loss"])
            shell(command.replace("<name>", best), project, env)
        else:
            raise AssertionError(f"a command this test does not know: {command}")

    # Each experiment: the learning rate it was queued with, trained and evaluated...
    rates = [float(re.search(r"train\.learning_rate=(\S+)", command)[1]) for command in queued]
    for name, rate in zip(sweep.names, rates, strict=True):
        assert shown[name]["params"]["train"]["learning_rate"] == rate
        assert shown[name]["params"]["train"]["architecture"] == "simple_cnn"
        assert {"accuracy", "log_loss", "n_images"} <= set(shown[name]["metrics"])
    # ...and the best one applied: the workspace holds its params and metrics.
    params = yaml.safe_load((project / "params.yaml").read_text())
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert params["train"]["learning_rate"] == shown[best]["params"]["train"]["learning_rate"]
    assert metrics["log_loss"] == pytest.approx(shown[best]["metrics"]["log_loss"])

    # One MLflow run per experiment, side by side in the experiment `catdog` of the one store.
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    catdog = client.get_experiment_by_name("catdog").experiment_id
    runs = {run.data.tags.get("dvc.exp_name"): run for run in client.search_runs([catdog])}
    assert sorted(runs) == sorted(sweep.names)
    assert len({run.data.tags["dvc.exp_baseline"] for run in runs.values()}) == 1
    for name, run in runs.items():
        assert run.info.status == "FINISHED"
        assert run.data.tags["pipeline"] == "train+evaluate+report+promote"
        rate = shown[name]["params"]["train"]["learning_rate"]
        assert run.data.params["train.learning_rate"] == str(rate)
        log_loss = shown[name]["metrics"]["log_loss"]
        assert run.data.metrics["test.log_loss"] == pytest.approx(log_loss)
    versions = client.search_model_versions("name='catdog'")
    assert sorted(v.run_id for v in versions) == sorted(r.info.run_id for r in runs.values())
    # The first becomes the champion; the second is judged against it (its model still loads:
    # the store keeps artifacts in the project, not in the queue's deleted temporary copy).
    first, second = (promotion(client, runs[name].info.run_id) for name in sweep.names)
    assert first["decision"] == "first_champion"
    assert second["decision"] in {"promoted", "kept_champion"}
    assert second["champion"]["version"] == first["challenger"]["version"]


def promotion(client: MlflowClient, run_id: str) -> dict:
    """The promote stage's decision, as logged to the run."""
    import mlflow

    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="promotion.json", tracking_uri=client.tracking_uri
    )
    return json.loads(Path(path).read_text())
