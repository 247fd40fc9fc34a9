"""A multi-worker training's non-chief worker writes none of the train stage's outputs and opens
no MLflow store; the chief (and any process outside a cluster) is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog

from catdog_pipeline.pipelines.train import create_pipeline
from catdog_pipeline.workers import NonChiefWorkerHook

PROJECT_ROOT = Path(__file__).resolve().parents[1]
WORKERS = ["127.0.0.1:2222", "127.0.0.1:2223"]


def tf_config(task_index: int) -> str:
    return json.dumps(
        {"cluster": {"worker": WORKERS}, "task": {"type": "worker", "index": task_index}}
    )


def started_run(monkeypatch, task_index: int, distribution: str) -> DataCatalog:
    """The catalog (the project's train entries) of a `kedro run --pipeline train` after the
    hook saw its context and pipeline start."""
    monkeypatch.setenv("TF_CONFIG", tf_config(task_index))
    entries = yaml.safe_load((PROJECT_ROOT / "conf/base/catalog_train.yml").read_text())
    catalog = DataCatalog.from_config(entries)
    hook = NonChiefWorkerHook()
    hook.after_context_created(SimpleNamespace(params={"train": {"distribution": distribution}}))
    hook.before_pipeline_run(create_pipeline(), catalog)
    return catalog


def save_outputs(catalog: DataCatalog) -> None:
    catalog.save("model_card", {"classes": ["cat", "dog"]})
    catalog.save("training_history", pd.DataFrame({"epoch": [1], "loss": [0.5]}))


def test_a_non_chief_worker_keeps_its_outputs_in_memory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the catalog's relative paths: data/06_models/..., reports/...

    catalog = started_run(monkeypatch, task_index=1, distribution="multi_worker")
    save_outputs(catalog)

    assert list(tmp_path.iterdir()) == []
    assert catalog.load("model_card") == {"classes": ["cat", "dog"]}


def test_the_chief_writes_its_outputs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)

    save_outputs(started_run(monkeypatch, task_index=0, distribution="multi_worker"))

    assert (tmp_path / "data/06_models/model_card.json").is_file()
    assert (tmp_path / "reports/training_history.csv").is_file()


@pytest.mark.parametrize(
    ("tf_config_value", "distribution"), [(tf_config(1), "none"), ("not json", "multi_worker")]
)
def test_a_tf_config_at_odds_with_the_params_stops_the_run(
    monkeypatch, tf_config_value, distribution
) -> None:
    monkeypatch.setenv("TF_CONFIG", tf_config_value)
    context = SimpleNamespace(params={"train": {"distribution": distribution}})

    with pytest.raises(SystemExit):
        NonChiefWorkerHook().after_context_created(context)


def test_kedro_mlflow_is_off_in_a_non_chief_worker_only() -> None:
    code = "from catdog_pipeline import settings; print(settings.DISABLE_HOOKS_FOR_PLUGINS)"

    def disabled_plugins(task_index: int) -> str:
        env = {**os.environ, "TF_CONFIG": tf_config(task_index)}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout.splitlines()[-1]  # after whatever the imports log

    assert disabled_plugins(1) == "('kedro_mlflow',)"
    assert disabled_plugins(0) == "()"
