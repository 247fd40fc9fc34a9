"""MLflow access for the report: the previous run's metrics, and logging the report files.

The tracking store is optional: where it cannot be reached, or knows nothing of the run, the
report says so (or logs a line) and carries on. MLflow is imported only inside these functions.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

# A tracking server that does not answer this fast is treated as absent: the stage stays quick.
HEALTH_TIMEOUT_SECONDS = 3
# How many earlier finished runs to look through for one that logged test metrics.
RUNS_SEARCHED = 20
# The evaluate stage logs its test metrics as `test.accuracy`, ... (catalog_evaluate.yml).
TEST_METRIC_PREFIX = "test."


def _client_and_run(run_id: str | None) -> tuple[Any, Any] | tuple[None, None]:
    """(MlflowClient, run) for `run_id`, or (None, None), logged, where MLflow can't give it."""
    if not run_id:
        logger.info("model_card.json names no MLflow run: skipping MLflow")
        return None, None
    import mlflow
    import requests
    from mlflow.exceptions import MlflowException

    uri = mlflow.get_tracking_uri()
    if urlparse(uri).scheme in ("http", "https"):
        try:
            requests.get(f"{uri.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_SECONDS)
        except requests.RequestException as exc:
            logger.info("MLflow tracking server %s is unreachable (%s): skipping MLflow", uri, exc)
            return None, None
    client = mlflow.MlflowClient(uri)
    try:
        return client, client.get_run(run_id)
    except MlflowException as exc:
        logger.info("MLflow run %s is not in %s (%s): skipping MLflow", run_id, uri, exc)
        return None, None


def previous_run_metrics(
    run_id: str | None, metric_names: Sequence[str]
) -> tuple[str, dict[str, float]] | None:
    """(run id, metrics) of the latest finished run of the same experiment started before
    `run_id` that logged any of `metric_names` as test metrics; None if there is none.
    """
    client, current = _client_and_run(run_id)
    if current is None:
        return None
    earlier = client.search_runs(
        [current.info.experiment_id],
        filter_string=(
            f"attributes.status = 'FINISHED' and attributes.start_time < {current.info.start_time}"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=RUNS_SEARCHED,
    )
    for run in earlier:
        logged = run.data.metrics
        found = {
            name: logged[TEST_METRIC_PREFIX + name]
            for name in metric_names
            if TEST_METRIC_PREFIX + name in logged
        }
        if found:
            return run.info.run_id, found
    return None


def log_report_files(run_id: str | None, files: Mapping[str, bytes | str]) -> bool:
    """Log `files` (artifact path -> content) to run `run_id`; False (logged) where it can't."""
    client, current = _client_and_run(run_id)
    if current is None:
        return False
    with tempfile.TemporaryDirectory(prefix="catdog-report-") as folder:
        for relative, content in files.items():
            path = Path(folder, relative)
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                path.write_text(content, encoding="utf-8")
            else:
                path.write_bytes(content)
        client.log_artifacts(run_id, folder)
    logger.info("Logged %d report files to MLflow run %s", len(files), run_id)
    return True
