"""How the project's runs look in the MLflow UI: a model-training experiment, telling run names.

- The experiment is tagged `mlflow.experimentKind = custom_model_development`, MLflow 3's mark
  of a model-training (not GenAI) experiment, whenever a tracked pipeline creates or finds it.
  A local store's experiment keeps its artifacts in the project's mlruns/, also when `dvc exp
  run --queue` creates it in a temporary copy of the project that is deleted afterwards
  (conf/base/mlflow.yml asks `artifact_location` for that).
- A run is named after what tells it apart: `xception_mini · data 3f2a1c · 34dfc19`, the
  architecture, the first hex digits of the split manifest's MD5 (the `dvc.split_manifest.md5`
  tag) and the short git commit (`-dirty` when code or config differ from it).
- MLflow 3.17's UI chooses between its GenAI layout (overview, traces) and its model-training
  layout (runs, charts) from the `workflowType` query parameter, else from the browser's last
  choice of the "GenAI / Model training" switch, GenAI at first: it does not read the kind tag.
  So the links built here carry `workflowType=machine_learning`.

MLflow is imported inside the functions: settings.py imports this module for every `kedro run`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from catdog_pipeline.provenance import git_state, split_manifest_md5

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING_KIND = "custom_model_development"
TRAINING_VIEW_QUERY = "workflowType=machine_learning"
SEPARATOR = " · "
DATA_HASH_DIGITS = 6
COMMIT_DIGITS = 7


def training_experiment(client: Any, name: str) -> str:
    """The id of experiment `name`, created if missing, tagged as a model-training one.

    Idempotent: the tag is written only when it is missing or says something else.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING_KIND})
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING_KIND:
        client.set_experiment_tag(
            experiment.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND
        )
    return experiment.experiment_id


def artifact_location(tracking_uri: str, project: Path) -> str | None:
    """Where a new experiment in a local store keeps its artifacts: the project's mlruns/.

    That is MLflow's own default (./mlruns) but for `dvc exp run --queue`, which runs in a
    temporary copy of the project and deletes it afterwards: there DVC_ROOT names the project.
    None for a tracking server, which decides for itself.
    """
    if tracking_uri.startswith(("http://", "https://", "databricks")):
        return None
    root = Path(os.environ.get("DVC_ROOT") or project)
    return (root / "mlruns").resolve().as_uri()


def run_name(
    architecture: str, data_md5: str | None, commit: str | None, dirty: bool = False
) -> str:
    """`xception_mini · data 3f2a1c · 34dfc19`; `data ?` without data, `no git` outside git."""
    data = f"data {data_md5[:DATA_HASH_DIGITS]}" if data_md5 else "data ?"
    code = f"{commit[:COMMIT_DIGITS]}{'-dirty' if dirty else ''}" if commit else "no git"
    return SEPARATOR.join([architecture, data, code])


def describe_run(params: Mapping[str, Any], project: Path) -> str:
    """The run name for these parameters and the project's current split manifest and commit."""
    train = params.get("train") or {}
    architecture = str(train.get("architecture", "model"))
    if architecture == "transfer":
        architecture += f":{(train.get('transfer') or {}).get('backbone', '?')}"
    git = git_state(project)
    return run_name(
        architecture,
        split_manifest_md5(project),
        git.get("git.commit"),
        dirty=git.get("git.dirty") == "true",
    )


def ui_base_url(tracking_uri: str, host: str, port: str | int) -> str:
    """The UI of this store: the tracking server itself, else `mlflow ui` on host:port."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return f"http://{host}:{port}"


def ui_link(base_url: str, experiment_id: str, run_id: str | None = None) -> str:
    """The experiment's training-runs list, or one run's page, in the model-training layout."""
    page = f"experiments/{experiment_id}" + (f"/runs/{run_id}" if run_id else "")
    return f"{base_url}/#/{page}?{TRAINING_VIEW_QUERY}"
