"""train: split_manifest + clean_images -> model (.keras) + model_card + training_history."""

from kedro.pipeline import Pipeline, node

from .nodes import describe_model, train_model


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                train_model,
                inputs=[
                    "split_manifest",
                    "clean_images",
                    "params:classes",
                    "params:image",
                    "params:train",
                ],
                outputs=["model", "training_history"],
                name="train_model",
            ),
            node(
                describe_model,
                inputs=[
                    "training_history",
                    "params:classes",
                    "params:image",
                    "params:train",
                    "params:clean.min_side",
                ],
                outputs="model_card",
                name="describe_model",
            ),
        ]
    )
