"""A worker of a multi-worker training other than the chief keeps what it computes to itself.

With `train.distribution: multi_worker`, every worker of the cluster TF_CONFIG describes runs
`kedro run --pipeline train` and they train one model together. Only the chief may write it:
another worker would overwrite `data/06_models/` (on shared storage) and log a second MLflow run.
In a process whose TF_CONFIG names a worker other than the chief (core/cluster.py decides):

- settings.py does not register kedro-mlflow's hooks, so the process opens no MLflow store at
  all (kedro-mlflow would otherwise create or look up the experiment at start-up, racing the
  chief on a fresh store) and starts no run; the project's MLflow hooks find no run and do
  nothing;
- `NonChiefWorkerHook` keeps every output of the run in memory: a `MemoryDataset` in place of
  each catalog entry the pipeline writes, as Keras' multi-worker guide has non-chief workers
  save to a throwaway place. It stops a run whose params do not ask for a multi-worker
  training, rather than leave it untracked.
"""

from __future__ import annotations

import logging
import os
from typing import NoReturn

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol, MemoryDataset
from kedro.pipeline import Pipeline

from catdog_pipeline.core import cluster
from catdog_pipeline.core.errors import InputError

logger = logging.getLogger(__name__)


class NonChiefWorkerHook:
    """On a non-chief worker: no output written (and, by settings.py, no MLflow)."""

    def __init__(self) -> None:
        self._non_chief = False

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Find this process's role; a TF_CONFIG at odds with the params stops it, exit 1."""
        self._non_chief = False
        if not os.environ.get(cluster.TF_CONFIG_ENV):
            return
        multi_worker = context.params.get("train", {}).get("distribution") == "multi_worker"
        try:
            role = cluster.worker_role()
        except InputError as error:
            if not multi_worker:
                return  # TF_CONFIG plays no part in this run
            _stop(str(error))
        if role.is_chief:
            return
        if not multi_worker:
            _stop(
                f"{cluster.TF_CONFIG_ENV} names this process {role}, a worker other than the "
                "chief, which writes nothing and is not tracked, but train.distribution is not "
                f"multi_worker. Unset {cluster.TF_CONFIG_ENV}, or set train.distribution: "
                "multi_worker (README: Multi-worker training)."
            )
        self._non_chief = True
        logger.info(
            "This process is %s of a multi-worker training: the chief saves the model, the "
            "history and the MLflow run; this worker keeps its outputs in memory",
            role,
        )

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        if self._non_chief:
            for name in pipeline.all_outputs():
                catalog[name] = MemoryDataset(copy_mode="assign")


def _stop(message: str) -> NoReturn:
    """Log `message` and exit 1, as a bad parameter does (params_check.py)."""
    logger.error("%s", message)
    raise SystemExit(1)
