"""evaluate: model + test split -> predictions, metrics.json, DVC plot data, figures, MLflow."""

from kedro.pipeline import Pipeline, node

from catdog_pipeline.core.plots import (
    plot_confusion_matrix,
    plot_precision_recall,
    plot_roc,
    plot_training_curves,
)

from .nodes import (
    compute_metrics,
    confusion_pairs,
    mlflow_test_metrics,
    model_for_registry,
    precision_recall_points,
    predict_test_split,
    roc_points,
)


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                predict_test_split,
                inputs=[
                    "model",
                    "split_manifest",
                    "clean_images",
                    "model_card",
                    "params:evaluate",
                ],
                outputs="test_predictions",
                name="predict_test_split",
            ),
            node(
                compute_metrics,
                inputs=["test_predictions", "model_card", "params:evaluate"],
                outputs="evaluation_metrics",
                name="compute_metrics",
            ),
            node(
                roc_points,
                inputs=["test_predictions", "model_card"],
                outputs="roc_points",
                name="roc_points",
            ),
            node(
                precision_recall_points,
                inputs=["test_predictions", "model_card"],
                outputs="precision_recall_points",
                name="precision_recall_points",
            ),
            node(
                confusion_pairs,
                inputs="test_predictions",
                outputs="confusion_pairs",
                name="confusion_pairs",
            ),
            node(
                plot_roc,
                inputs=["roc_points", "evaluation_metrics"],
                outputs="roc_figure",
                name="plot_roc",
            ),
            node(
                plot_precision_recall,
                inputs=["precision_recall_points", "evaluation_metrics"],
                outputs="precision_recall_figure",
                name="plot_precision_recall",
            ),
            node(
                plot_confusion_matrix,
                inputs="evaluation_metrics",
                outputs="confusion_matrix_figure",
                name="plot_confusion_matrix",
            ),
            node(
                plot_training_curves,
                inputs="training_history",
                outputs="training_curves_figure",
                name="plot_training_curves",
            ),
            node(
                mlflow_test_metrics,
                inputs="evaluation_metrics",
                outputs="mlflow_test_metrics",
                name="mlflow_test_metrics",
            ),
            node(
                model_for_registry,
                inputs=["model", "model_card", "evaluation_metrics", "params:evaluate"],
                outputs="mlflow_model",
                name="log_model_to_mlflow",
            ),
        ]
    )
