"""The report's comparison with the previous run: MLflow's, else the metrics committed at HEAD."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catdog_pipeline.core.metrics import SCALAR_METRICS, gain

# Changes smaller than this are reported as unchanged rather than better or worse.
UNCHANGED_BELOW = 5e-4


def compare_with_previous_run(
    evaluation_metrics: Mapping[str, Any],
    model_card: Mapping[str, Any],
    previous_committed_metrics: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Metric deltas against the previous run: MLflow's previous finished run of the current
    run's experiment, else reports/metrics.json as committed at git HEAD, else none (said so).
    """
    from .tracking import previous_run_metrics

    run_id = model_card.get("mlflow_run_id")
    previous = previous_run_metrics(run_id, SCALAR_METRICS)
    if previous:
        previous_id, previous_metrics = previous
        source = f"MLflow run {previous_id}, the finished run before this one ({run_id})"
    elif previous_committed_metrics:
        previous_metrics = dict(previous_committed_metrics)
        source = (
            "reports/metrics.json as committed at git HEAD "
            "(MLflow has no earlier finished run with test metrics)"
        )
    else:
        return {
            "source": None,
            "rows": [],
            "note": "No previous run to compare with: MLflow has no earlier finished run with "
            "test metrics, and git HEAD has no committed reports/metrics.json.",
        }
    return {"source": source, "rows": metric_deltas(evaluation_metrics, previous_metrics)}


def metric_deltas(current: Mapping[str, Any], previous: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per headline metric both runs have: values, change, and better/worse/unchanged."""
    rows = []
    for name in SCALAR_METRICS:
        now, before = current.get(name), previous.get(name)
        if now is None or before is None:
            continue
        delta = float(now) - float(before)
        better = gain(name, now, before) > 0
        verdict = "unchanged" if abs(delta) < UNCHANGED_BELOW else "better" if better else "worse"
        rows.append(
            {"name": name, "current": now, "previous": before, "delta": delta, "verdict": verdict}
        )
    return rows
