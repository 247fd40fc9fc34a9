"""clean: raw_images + raw_inventory -> clean_images + image_manifest + clean_summary."""

from kedro.pipeline import Pipeline, node

from .nodes import mark_duplicates, normalize_images, summarize_cleaning


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                normalize_images,
                inputs=["raw_images", "raw_inventory", "params:image", "params:clean"],
                outputs=["clean_images", "inspected_images"],
                name="normalize_images",
            ),
            node(
                mark_duplicates,
                inputs=["inspected_images", "params:clean"],
                outputs="image_manifest@full",
                name="mark_duplicates",
            ),
            node(
                summarize_cleaning,
                inputs="image_manifest@full",
                outputs="clean_summary",
                name="summarize_cleaning",
            ),
        ]
    )
