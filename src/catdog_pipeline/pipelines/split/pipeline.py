"""split: image_manifest -> split_manifest + the data-quality report."""

from kedro.pipeline import Pipeline, node

from .nodes import assign_splits, build_data_quality_report


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                assign_splits,
                inputs=["image_manifest", "params:classes", "params:split"],
                outputs="split_manifest",
                name="assign_splits",
            ),
            node(
                build_data_quality_report,
                inputs=["clean_summary", "split_manifest"],
                outputs="data_quality",
                name="build_data_quality_report",
            ),
        ]
    )
