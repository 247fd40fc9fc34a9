"""Project hooks: one MLflow run per trained model, and where each run came from.

kedro-mlflow's MlflowHook starts and ends the run, logs the parameters each node reads and saves
the catalog's Mlflow* datasets (figures, metrics, model). These hooks add what it cannot know:

- `TrainingRunHook`: `dvc repro` runs `train` and `evaluate` as two `kedro run` processes; the
  train stage's model card records its run id and `evaluate` logs into that run again. It also
  logs the training history table as `training_history.csv` (the train stage's catalog entry is
  a plain CSV dataset, not a kedro-mlflow one).
- `RunProvenanceHook`: every parameter, the git commit, the DVC hashes of the training data,
  the pipeline and the split sizes, as run params and tags.

MLflow is imported inside the hooks: settings.py imports this module for every `kedro run`.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

logger = logging.getLogger(__name__)

MODEL_CARD = "model_card"
RUN_ID_KEY = "mlflow_run_id"
TRAINING_HISTORY = "training_history"
SPLIT_MANIFEST = "split_manifest"
# The training data as dvc.yaml tracks it (the same paths as conf/base/catalog.yml).
SPLIT_MANIFEST_PATH = "data/03_primary/split.parquet"
CLEAN_IMAGES_PATH = "data/02_intermediate/images"
# Files the pipeline itself rewrites: changes there do not make the code differ from the commit.
GIT_OUTPUT_PATHSPECS = (":(exclude)dvc.lock", ":(exclude)reports", ":(exclude,glob)**/.gitignore")


class TrainingRunHook:
    """Make a separate `evaluate` process log into the run that trained its model.

    Writes the active run's id into the model card as `mlflow_run_id` when the card is saved,
    and logs the training history table, when saved, as the run's `training_history.csv`.
    When a pipeline reads the card without producing it (`kedro run --pipeline evaluate`), it
    points kedro-mlflow at that run before kedro-mlflow starts one, unless the run is not in
    this tracking store's experiment or was logged with other parameter values (MLflow params
    cannot change): then the pipeline gets a new run, tagged `training_run_id`.
    """

    def __init__(self) -> None:
        self._context: KedroContext | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl(tryfirst=True)  # before kedro-mlflow's own before_pipeline_run starts a run
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        mlflow_config = getattr(self._context, "mlflow", None)  # set by kedro-mlflow
        if mlflow_config is None or MODEL_CARD not in pipeline.inputs():
            return
        run_id = recorded_run_id(catalog)
        if run_id is None:
            return
        run, problem = training_run(run_id, mlflow_config, flatten_params(self._context.params))
        if problem:
            logger.warning("Not resuming training run %s: %s; starting a new run", run_id, problem)
            return
        logger.info("Logging into the run that trained the model: %s", run_id)
        mlflow_config.tracking.run.id = run_id
        mlflow_config.tracking.run.name = run.info.run_name  # else it is renamed `evaluate`

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any, node: Node) -> None:
        if dataset_name != MODEL_CARD or not isinstance(data, dict):
            return
        import mlflow

        run = mlflow.active_run()
        if run is not None:
            data[RUN_ID_KEY] = run.info.run_id

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Node) -> None:
        if dataset_name != TRAINING_HISTORY:
            return
        import mlflow

        run = mlflow.active_run()
        if run is not None:
            text = data.to_csv(index=False)
            mlflow.MlflowClient().log_text(run.info.run_id, text, f"{TRAINING_HISTORY}.csv")


def recorded_run_id(catalog: CatalogProtocol) -> str | None:
    """The `mlflow_run_id` of the saved model card, or None (no card, or trained untracked)."""
    if not catalog.exists(MODEL_CARD):
        return None
    card = catalog.load(MODEL_CARD)
    return card.get(RUN_ID_KEY) if isinstance(card, Mapping) else None


def training_run(
    run_id: str, mlflow_config: Any, params: Mapping[str, str]
) -> tuple[Any, str | None]:
    """(the run `run_id`, None), or (run or None, why this pipeline cannot log into it)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()  # kedro-mlflow has set the tracking URI
    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None, f"no such run in {mlflow.get_tracking_uri()}"
    experiment = client.get_experiment_by_name(mlflow_config.tracking.experiment.name)
    if experiment is None or run.info.experiment_id != experiment.experiment_id:
        return run, f"it is not in the experiment '{mlflow_config.tracking.experiment.name}'"
    changed = sorted(
        name for name, value in params.items() if run.data.params.get(name, value) != value
    )
    if changed:
        return run, f"parameters changed since it was logged: {changed}"
    return run, None


class RunProvenanceHook:
    """Record in the active MLflow run what produced it: params, code, data, pipeline."""

    def __init__(self) -> None:
        self._context: KedroContext | None = None
        self._run_id: str | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl  # after kedro-mlflow's before_pipeline_run: plugin hooks run first
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        import mlflow
        from mlflow.entities import Param, RunTag

        run = mlflow.active_run()
        self._run_id = run.info.run_id if run else None
        if run is None:  # tracking is disabled for this pipeline
            return
        client = mlflow.MlflowClient()
        project = Path(self._context.project_path)
        tags = {
            "pipeline": _pipeline_tag(run_params, client.get_run(self._run_id).data.tags),
            **git_state(project),
            **dvc_data_hashes(project),
        }
        trained_in = recorded_run_id(catalog) if MODEL_CARD in pipeline.inputs() else None
        if trained_in and trained_in != self._run_id:  # TrainingRunHook could not resume it
            tags["training_run_id"] = trained_in
        params = flatten_params(self._context.params)
        client.log_batch(
            self._run_id,
            params=[Param(name, value) for name, value in params.items()],
            tags=[RunTag(name, value) for name, value in tags.items()],
        )

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node: Node) -> None:
        if dataset_name != SPLIT_MANIFEST or self._run_id is None:
            return
        import mlflow

        counts = data["split"].value_counts()
        client = mlflow.MlflowClient()
        for split in ("train", "val", "test"):
            client.set_tag(self._run_id, f"data.{split}_images", str(int(counts.get(split, 0))))

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._run_id = None


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested params as MLflow params: `train.optimizer.learning_rate` -> "0.001".

    Keys and values as kedro-mlflow writes them (flatten, sep "."), so both can log one key.
    """
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def _pipeline_tag(run_params: Mapping[str, Any], existing_tags: Mapping[str, str]) -> str:
    """The pipelines that logged into the run, joined by "+" (`train+evaluate` under DVC)."""
    names = run_params.get("pipeline_names") or run_params.get("pipeline_name") or "__default__"
    names = [names] if isinstance(names, str) else list(names)
    logged = [name for name in existing_tags.get("pipeline", "").split("+") if name]
    return "+".join(logged + [name for name in names if name not in logged])


def git_state(project: Path) -> dict[str, str]:
    """`git.commit` and `git.dirty` (code or config differ from the commit); empty outside git."""
    try:
        commit = _git(project, "rev-parse", "HEAD")
        changes = _git(project, "status", "--porcelain", "--", ".", *GIT_OUTPUT_PATHSPECS)
    except (OSError, subprocess.CalledProcessError):
        logger.warning("%s is not a git checkout with a commit: no git tags on the run", project)
        return {}
    return {"git.commit": commit, "git.dirty": str(bool(changes)).lower()}


def _git(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def dvc_data_hashes(project: Path) -> dict[str, str]:
    """The DVC hashes of the training data, as tags.

    `dvc.split_manifest.md5` is computed from the file (DVC's hash of a file is its MD5);
    `dvc.clean_images.md5` is the folder's hash in dvc.lock, and `dvc.lock_matches_data` says
    whether dvc.lock records this very split manifest (false after a `kedro run` on data that
    `dvc repro` has not locked yet).
    """
    split_file = project / SPLIT_MANIFEST_PATH
    if not split_file.is_file():
        return {}
    split_md5 = hashlib.md5(split_file.read_bytes()).hexdigest()
    locked = _locked_out_hashes(project / "dvc.lock")
    tags = {
        "dvc.split_manifest.md5": split_md5,
        "dvc.lock_matches_data": str(locked.get(SPLIT_MANIFEST_PATH) == split_md5).lower(),
    }
    if CLEAN_IMAGES_PATH in locked:
        tags["dvc.clean_images.md5"] = locked[CLEAN_IMAGES_PATH]
    return tags


def _locked_out_hashes(lock_file: Path) -> dict[str, str]:
    """path -> md5 of every stage output recorded in dvc.lock (empty if there is none)."""
    if not lock_file.is_file():
        return {}
    stages = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
    return {
        out["path"]: out["md5"]
        for stage in stages.values()
        for out in stage.get("outs", [])
        if "md5" in out
    }
