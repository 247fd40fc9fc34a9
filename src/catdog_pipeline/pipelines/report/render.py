"""The report's outputs: the HTML page, the Markdown summary, and their copy in MLflow."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catdog_pipeline.core.metrics import SCALAR_METRICS

from .gallery import data_uri


def render_html_report(
    data_quality_section: Mapping[str, Any],
    split_sizes: Mapping[str, Any],
    evaluation_metrics: Mapping[str, Any],
    charts: Mapping[str, bytes],
    misclassified: Mapping[str, Any],
    gradcam: Mapping[str, Any],
    label_suspects: Mapping[str, Any],
    comparison: Mapping[str, Any],
    model_card: Mapping[str, Any],
) -> str:
    """The self-contained report page: every image is embedded as a `data:` URI."""
    from .html import render

    return render(
        "report.html.j2",
        data_quality=data_quality_section,
        splits=split_sizes,
        metrics=evaluation_metrics,
        headline=SCALAR_METRICS,
        charts={name: data_uri(png, "image/png") for name, png in charts.items()},
        misclassified=misclassified,
        gradcam=gradcam,
        label_suspects=label_suspects,
        comparison=comparison,
        model_card=model_card,
    )


def render_markdown_report(
    data_quality_section: Mapping[str, Any],
    split_sizes: Mapping[str, Any],
    evaluation_metrics: Mapping[str, Any],
    label_suspects: Mapping[str, Any],
    comparison: Mapping[str, Any],
    model_card: Mapping[str, Any],
) -> str:
    """The headline figures as Markdown, short enough for a pull-request comment."""
    from .html import render

    return render(
        "report.md.j2",
        data_quality=data_quality_section,
        splits=split_sizes,
        metrics=evaluation_metrics,
        headline=SCALAR_METRICS,
        label_suspects=label_suspects,
        comparison=comparison,
        deltas={row["name"]: row for row in comparison["rows"]},
        model_card=model_card,
    )


def log_report_to_mlflow(
    report_html: str,
    report_markdown: str,
    charts: Mapping[str, bytes],
    model_card: Mapping[str, Any],
) -> None:
    """Attach report.html, report.md and the chart PNGs to the model's MLflow run, if reachable."""
    from .tracking import log_report_files

    files: dict[str, bytes | str] = {
        "report/report.html": report_html,
        "report/report.md": report_markdown,
        **{f"report/figures/{name}.png": png for name, png in charts.items()},
    }
    log_report_files(model_card.get("mlflow_run_id"), files)
