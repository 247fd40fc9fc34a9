"""audit: clean images + split_manifest -> reports/label_audit.csv (labels, worst first)."""

from kedro.pipeline import Pipeline, node

from .nodes import audit_labels, extract_audit_features


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                extract_audit_features,
                inputs=[
                    "split_manifest",
                    "clean_images",
                    "params:image.size",
                    "params:train.transfer.backbone",
                    "params:train.transfer.weights",
                ],
                outputs="audit_features",
                name="extract_audit_features",
            ),
            node(
                audit_labels,
                inputs=[
                    "split_manifest",
                    "audit_features",
                    "params:classes",
                    "params:audit.folds",
                    "params:audit.seed",
                ],
                outputs="label_audit",
                name="audit_labels",
            ),
        ]
    )
