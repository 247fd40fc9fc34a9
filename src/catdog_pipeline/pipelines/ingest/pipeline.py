"""ingest: sources (Drive, URL, folder or archive; one or a list) -> raw_images + raw_inventory."""

from kedro.pipeline import Pipeline, node

from .nodes import build_raw_inventory, fetch_raw_images


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                fetch_raw_images,
                inputs=["params:ingest", "params:classes"],
                outputs=["raw_images", "rejected_archive_entries"],
                name="fetch_raw_images",
            ),
            node(
                build_raw_inventory,
                inputs=[
                    "raw_images",
                    "rejected_archive_entries",
                    "params:ingest",
                    "params:classes",
                ],
                outputs="raw_inventory",
                name="build_raw_inventory",
            ),
        ]
    )
