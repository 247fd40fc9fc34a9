"""split: image_manifest + the label review -> split_manifest + the data-quality report."""

from kedro.pipeline import Pipeline, node

from .nodes import assign_splits, build_data_quality_report
from .review import apply_label_review


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                assign_splits,
                inputs=["image_manifest@split", "params:classes", "params:split"],
                outputs="dealt_splits",
                name="assign_splits",
            ),
            node(
                apply_label_review,
                inputs=["dealt_splits", "label_review", "params:classes"],
                outputs=["split_manifest", "label_review_counts"],
                name="apply_label_review",
            ),
            node(
                build_data_quality_report,
                inputs=["clean_summary", "split_manifest", "label_review_counts"],
                outputs="data_quality",
                name="build_data_quality_report",
            ),
        ]
    )
