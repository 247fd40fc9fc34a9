"""promote: the new model and the `@champion` on the gate set -> promotion.json, maybe the alias."""

from kedro.pipeline import Pipeline, node

from .gate import select_gate_images
from .nodes import promotion_record, score_champion, score_on_gate


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                select_gate_images,
                inputs=["gate_set", "split_manifest", "params:promote"],
                outputs="gate_images",
                name="select_gate_images",
            ),
            node(
                score_on_gate,
                inputs=[
                    "model",
                    "model_card",
                    "gate_images",
                    "clean_images",
                    "params:evaluate.threshold",
                ],
                outputs="challenger_scores",
                name="score_challenger",
            ),
            node(
                score_champion,
                inputs=[
                    "champion_model",
                    "gate_images",
                    "clean_images",
                    "params:evaluate.threshold",
                ],
                outputs="champion_scores",
                name="score_champion",
            ),
            node(
                promotion_record,
                inputs=[
                    "challenger_scores",
                    "champion_scores",
                    "model_card",
                    "registered_versions",
                    "params:promote",
                ],
                outputs=["promotion", "champion_alias"],
                name="decide_promotion",
            ),
        ]
    )
