"""Project hooks: one MLflow run per trained model, and where each run came from.

kedro-mlflow's MlflowHook starts and ends the run, logs the parameters each node reads and saves
the catalog's Mlflow* datasets (figures, metrics, model). These hooks add what it cannot know:

- `TrainingRunHook`: `dvc repro` runs `train` and `evaluate` as two `kedro run` processes; the
  train stage's model card records its run id and `evaluate` logs into that run again. A new
  run is named `xception_mini · data 3f2a1c · 34dfc19` (mlflow_ui.py), and the experiment is
  marked as a model-training one. It also logs the training history table as
  `training_history.csv` (the train stage's catalog entry is a plain CSV, not kedro-mlflow's).
- `RunProvenanceHook`: every parameter, the git commit, the DVC hashes of the training data,
  the DVC experiment (under `dvc exp run`), the pipeline and the split sizes, as run params and
  tags; at the end, the run's UI link.

MLflow is imported inside the hooks: settings.py imports this module for every `kedro run`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

from catdog_pipeline.mlflow_ui import describe_run, training_experiment, ui_base_url, ui_link
from catdog_pipeline.provenance import dvc_data_hashes, dvc_experiment, git_state

logger = logging.getLogger(__name__)

MODEL_CARD = "model_card"
RUN_ID_KEY = "mlflow_run_id"
TRAINING_HISTORY = "training_history"
SPLIT_MANIFEST = "split_manifest"


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
        self._auto_name: str | None = None  # the run name this hook chose, if it chose one

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl(tryfirst=True)  # before kedro-mlflow's own before_pipeline_run starts a run
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        """Mark the experiment as model training; resume the training run or name a new one."""
        self._auto_name = None
        mlflow_config = getattr(self._context, "mlflow", None)  # set by kedro-mlflow
        if mlflow_config is None or not _tracked(run_params, mlflow_config):
            return
        import mlflow

        training_experiment(mlflow.MlflowClient(), mlflow_config.tracking.experiment.name)
        if MODEL_CARD in pipeline.inputs() and self._resume_training_run(catalog, mlflow_config):
            return
        if mlflow_config.tracking.run.name is None:  # mlflow.yml names no run
            project = Path(self._context.project_path)
            self._auto_name = describe_run(self._context.params, project)
            mlflow_config.tracking.run.name = self._auto_name

    def _resume_training_run(self, catalog: CatalogProtocol, mlflow_config: Any) -> bool:
        """Point kedro-mlflow at the run that trained the model card's model, if it may."""
        run_id = recorded_run_id(catalog)
        if run_id is None:
            return False
        run, problem = training_run(run_id, mlflow_config, flatten_params(self._context.params))
        if problem:
            logger.warning("Not resuming training run %s: %s; starting a new run", run_id, problem)
            return False
        logger.info("Logging into the run that trained the model: %s", run_id)
        mlflow_config.tracking.run.id = run_id
        mlflow_config.tracking.run.name = run.info.run_name  # else it is renamed `evaluate`
        return True

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any, node: Node) -> None:
        if dataset_name != MODEL_CARD or not isinstance(data, dict):
            return
        import mlflow

        run = mlflow.active_run()
        if run is not None:
            data[RUN_ID_KEY] = run.info.run_id
            # Where a pretrained backbone's weights came from: package, file, sha256, licence.
            pretrained = flatten_params(data.get("pretrained") or {}, prefix="pretrained.")
            mlflow.MlflowClient().log_batch(run.info.run_id, tags=_run_tags(pretrained))

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Node) -> None:
        if dataset_name not in (TRAINING_HISTORY, SPLIT_MANIFEST):
            return
        import mlflow

        run = mlflow.active_run()
        if run is None:
            return
        client = mlflow.MlflowClient()
        if dataset_name == TRAINING_HISTORY:
            text = data.to_csv(index=False)
            client.log_text(run.info.run_id, text, f"{TRAINING_HISTORY}.csv")
        elif self._auto_name and client.get_run(run.info.run_id).info.run_name == self._auto_name:
            # `kedro run` rebuilt the split: the name now names the data this run trains on.
            project = Path(self._context.project_path)
            self._auto_name = describe_run(self._context.params, project)
            client.update_run(run.info.run_id, name=self._auto_name)


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
        self._experiment_id: str | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._context = context

    @hook_impl  # after kedro-mlflow's before_pipeline_run: plugin hooks run first
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: CatalogProtocol
    ) -> None:
        import mlflow
        from mlflow.entities import Param

        run = mlflow.active_run()
        self._run_id = run.info.run_id if run else None
        if run is None:  # tracking is disabled for this pipeline
            return
        self._experiment_id = run.info.experiment_id
        client = mlflow.MlflowClient()
        project = Path(self._context.project_path)
        tags = {
            "pipeline": _pipeline_tag(run_params, client.get_run(self._run_id).data.tags),
            **git_state(project),
            **dvc_data_hashes(project),
            **dvc_experiment(),
        }
        trained_in = recorded_run_id(catalog) if MODEL_CARD in pipeline.inputs() else None
        if trained_in and trained_in != self._run_id:  # TrainingRunHook could not resume it
            tags["training_run_id"] = trained_in
        params = flatten_params(self._context.params)
        client.log_batch(
            self._run_id,
            params=[Param(name, value) for name, value in params.items()],
            tags=_run_tags(tags),
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
    def after_dataset_saved(self, dataset_name: str, data: Any, node: Node) -> None:
        if dataset_name != SPLIT_MANIFEST or self._run_id is None:
            return
        import mlflow

        # `kedro run` rebuilt the split: the tags logged at the start name the previous one.
        tags = dvc_data_hashes(Path(self._context.project_path))
        mlflow.MlflowClient().log_batch(self._run_id, tags=_run_tags(tags))

    @hook_impl
    def after_pipeline_run(self) -> None:
        if self._run_id is not None:
            import mlflow

            config = self._context.mlflow  # set by kedro-mlflow
            uri = mlflow.get_tracking_uri()
            base = ui_base_url(uri, config.ui.host, config.ui.port)
            how = "" if base == uri.rstrip("/") else f" (`mlflow ui --backend-store-uri {uri}`)"
            logger.info("MLflow UI%s: %s", how, ui_link(base, self._experiment_id, self._run_id))
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


def _run_tags(tags: Mapping[str, str]) -> list[Any]:
    """MLflow `RunTag`s for `log_batch`."""
    from mlflow.entities import RunTag

    return [RunTag(name, value) for name, value in tags.items()]


def _pipeline_names(run_params: Mapping[str, Any]) -> list[str]:
    names = run_params.get("pipeline_names") or run_params.get("pipeline_name") or "__default__"
    return [names] if isinstance(names, str) else list(names)


def _tracked(run_params: Mapping[str, Any], mlflow_config: Any) -> bool:
    """Whether kedro-mlflow tracks this run's pipelines (mlflow.yml's disable_tracking)."""
    from kedro_mlflow.framework.hooks.utils import _assert_mlflow_enabled

    return _assert_mlflow_enabled(_pipeline_names(run_params), mlflow_config)


def _pipeline_tag(run_params: Mapping[str, Any], existing_tags: Mapping[str, str]) -> str:
    """The pipelines that logged into the run, joined by "+" (`train+evaluate` under DVC)."""
    names = _pipeline_names(run_params)
    logged = [name for name in existing_tags.get("pipeline", "").split("+") if name]
    return "+".join(logged + [name for name in names if name not in logged])
