"""report: every earlier stage's output -> reports/report.html, report.md, MLflow artifacts."""

from kedro.pipeline import Pipeline, node

from .comparison import compare_with_previous_run
from .label_suspects import build_label_suspects
from .nodes import (
    build_misclassification_gallery,
    count_split_sizes,
    draw_charts,
    explain_with_gradcam,
    summarise_data_quality,
)
from .render import log_report_to_mlflow, render_html_report, render_markdown_report

MAX_PIXELS = "params:image.max_pixels"


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                summarise_data_quality,
                inputs=[
                    "data_quality",
                    "image_manifest@full",
                    "raw_images",
                    "params:report",
                    MAX_PIXELS,
                ],
                outputs="report_data_quality_section",
                name="summarise_data_quality",
            ),
            node(
                count_split_sizes,
                inputs=["split_manifest", "model_card"],
                outputs="report_split_sizes",
                name="count_split_sizes",
            ),
            node(
                draw_charts,
                inputs=[
                    "training_history",
                    "roc_points",
                    "precision_recall_points",
                    "evaluation_metrics",
                    "test_predictions",
                    "model_card",
                    "params:report",
                ],
                outputs="report_charts",
                name="draw_report_charts",
            ),
            node(
                build_misclassification_gallery,
                inputs=[
                    "test_predictions",
                    "clean_images",
                    "model_card",
                    "params:report",
                    MAX_PIXELS,
                ],
                outputs="report_misclassified",
                name="build_misclassification_gallery",
            ),
            node(
                explain_with_gradcam,
                inputs=[
                    "model",
                    "test_predictions",
                    "clean_images",
                    "model_card",
                    "params:report",
                    MAX_PIXELS,
                ],
                outputs="report_gradcam",
                name="explain_with_gradcam",
            ),
            node(
                build_label_suspects,
                inputs=[
                    "label_audit",
                    "label_review",
                    "clean_images",
                    "params:audit.suspects",
                    "params:audit.outliers",
                    "params:report",
                    MAX_PIXELS,
                ],
                outputs="report_label_suspects",
                name="build_label_suspects",
            ),
            node(
                compare_with_previous_run,
                inputs=["evaluation_metrics", "model_card", "previous_committed_metrics"],
                outputs="report_comparison",
                name="compare_with_previous_run",
            ),
            node(
                render_html_report,
                inputs=[
                    "report_data_quality_section",
                    "report_split_sizes",
                    "evaluation_metrics",
                    "report_charts",
                    "report_misclassified",
                    "report_gradcam",
                    "report_label_suspects",
                    "report_comparison",
                    "model_card",
                ],
                outputs="report_html",
                name="render_html_report",
            ),
            node(
                render_markdown_report,
                inputs=[
                    "report_data_quality_section",
                    "report_split_sizes",
                    "evaluation_metrics",
                    "report_label_suspects",
                    "report_comparison",
                    "model_card",
                ],
                outputs="report_markdown",
                name="render_markdown_report",
            ),
            node(
                log_report_to_mlflow,
                inputs=["report_html", "report_markdown", "report_charts", "model_card"],
                outputs=None,
                name="log_report_to_mlflow",
            ),
        ]
    )
