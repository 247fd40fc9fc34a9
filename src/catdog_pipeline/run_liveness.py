"""MLflow runs whose process was killed are marked FAILED, not left RUNNING forever.

A `kill -9` during training gives kedro-mlflow no chance to end its run. `RunLivenessHook`
tags each tracked run with the process working in it (`catdog.pid`, `catdog.host`,
`catdog.project`) and, whenever a tracked stage starts, ends as FAILED every RUNNING run of
this project's experiment and project folder whose process on this machine is gone. A run
from another machine, an untagged run or a live process's run is left alone; a reused pid
makes a dead run look alive, which errs on the side of leaving it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from catdog_pipeline.processes import host_name, process_alive

if TYPE_CHECKING:
    from mlflow import MlflowClient

logger = logging.getLogger(__name__)

PID_TAG = "catdog.pid"
HOST_TAG = "catdog.host"
PROJECT_TAG = "catdog.project"
FAILURE_TAG = "catdog.failure"


def process_tags(project: Path) -> dict[str, str]:
    """The tags naming this process as the one working in a run."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: host_name(), PROJECT_TAG: str(project)}


def fail_abandoned_runs(client: MlflowClient, experiment_id: str, project: Path) -> list[str]:
    """End as FAILED the RUNNING runs of `project` on this host whose process is gone.

    Returns the ids of the runs it ended.
    """
    host = host_name()
    query = (
        f"attributes.status = 'RUNNING' and tags.`{HOST_TAG}` = '{host}' "
        f"and tags.`{PROJECT_TAG}` = '{project}'"
    )
    ended = []
    for run in client.search_runs([experiment_id], filter_string=query, max_results=1000):
        pid = run.data.tags.get(PID_TAG, "")
        if not pid.isdigit() or process_alive(int(pid)):
            continue
        client.set_tag(
            run.info.run_id,
            FAILURE_TAG,
            f"its process (pid {pid} on {host}) ended without closing the run: killed?",
        )
        client.set_terminated(run.info.run_id, status="FAILED")
        logger.warning(
            "MLflow run %s was left RUNNING by process %s, which is gone: marked FAILED",
            run.info.run_id,
            pid,
        )
        ended.append(run.info.run_id)
    return ended


class RunLivenessHook:
    """Tag the active run with its process; fail this project's runs whose process is gone."""

    def __init__(self) -> None:
        self._project: Path | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._project = Path(context.project_path).resolve()

    @hook_impl  # after kedro-mlflow's before_pipeline_run has started (or resumed) the run
    def before_pipeline_run(self) -> None:
        """Nothing to do for untracked pipelines (the data stages): they have no run."""
        import mlflow
        from mlflow.entities import RunTag

        run = mlflow.active_run()
        if run is None:
            return
        client = mlflow.MlflowClient()
        tags = [RunTag(name, value) for name, value in process_tags(self._project).items()]
        client.log_batch(run.info.run_id, tags=tags)
        fail_abandoned_runs(client, run.info.experiment_id, self._project)
