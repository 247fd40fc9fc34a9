"""Label audit on frozen features: flipped labels rank first, outliers score lowest, rows kept."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.pipelines.audit.nodes import AUDIT_COLUMNS, audit_labels
from catdog_pipeline.pipelines.audit.scoring import score_labels

CLASSES = {"cat": ["cat"], "dog": ["dog"]}
PER_CLASS = 60
FLIPPED = [3, 17, 70, 101]  # rows whose label is planted wrong
OUTLIER = 2 * PER_CLASS  # with `outlier`: one row far from both clusters


def synthetic_features(*, outlier: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two separate clusters of 32-d features (cats, dogs), with `FLIPPED` labels planted wrong
    and optionally one far outlier: (features, true labels, given labels)."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (2, 32)) * 3
    truth = np.repeat([0, 1], PER_CLASS)
    features = (centres[truth] + rng.normal(0, 1, (len(truth), 32))).astype(np.float32)
    if outlier:
        features = np.vstack([features, rng.normal(0, 1, (1, 32)) + 40]).astype(np.float32)
        truth = np.append(truth, 0)
    given = truth.copy()
    given[FLIPPED] = 1 - given[FLIPPED]
    return features, truth, given


def manifest_for(labels: np.ndarray) -> pd.DataFrame:
    """A split manifest whose image paths are named by (fake) pixel hashes, as clean names them."""
    hashes = [f"{index:064x}" for index in range(len(labels))]
    return pd.DataFrame(
        {
            "image_path": [f"{sha[:2]}/{sha}.jpg" for sha in hashes],
            "original_path": [f"PetImages/{index}.jpg" for index in range(len(labels))],
            "label": np.array(list(CLASSES))[labels],
            "label_index": labels,
            "split": "train",
            "group": np.arange(len(labels)),
        }
    )


def test_flipped_labels_rank_first_with_the_right_suggestion() -> None:
    features, truth, given = synthetic_features()

    scores = score_labels(features, given, list(CLASSES), folds=5, seed=0)

    worst = np.argsort(scores["label_quality"])[: len(FLIPPED)]
    assert sorted(worst) == FLIPPED
    assert (scores["suggested"][FLIPPED] == truth[FLIPPED]).all()
    assert scores["label_issue"][FLIPPED].all()
    assert scores["label_issue"].sum() == len(FLIPPED)
    assert ((scores["label_quality"] >= 0) & (scores["label_quality"] <= 1)).all()


def test_a_photo_unlike_all_others_gets_the_lowest_outlier_score() -> None:
    features, _, given = synthetic_features(outlier=True)

    scores = score_labels(features, given, list(CLASSES), folds=5, seed=0)

    assert np.argmin(scores["outlier_score"]) == OUTLIER


def test_the_audit_table_has_one_row_per_photo_worst_first() -> None:
    features, truth, given = synthetic_features()
    manifest = manifest_for(given)

    audit = audit_labels(manifest, features, CLASSES, folds=5, seed=0)

    assert list(audit.columns) == AUDIT_COLUMNS
    assert len(audit) == len(manifest)
    assert audit["label_quality"].is_monotonic_increasing
    flipped_paths = set(manifest.loc[FLIPPED, "original_path"])
    assert set(audit["original_path"].head(len(FLIPPED))) == flipped_paths
    assert (audit["sha256"] == audit["image_path"].str.slice(3, 67)).all()
    top = audit.head(len(FLIPPED))
    assert (top["suggested_label"] != top["label"]).all()
    dog = top["suggested_label"] == "dog"
    assert (top.loc[dog, "probability"] > 0.5).all() and (top.loc[~dog, "probability"] < 0.5).all()


def test_the_same_seed_gives_the_same_audit() -> None:
    features, _, given = synthetic_features()
    manifest = manifest_for(given)

    first = audit_labels(manifest, features, CLASSES, folds=3, seed=1)
    again = audit_labels(manifest, features, CLASSES, folds=3, seed=1)

    pd.testing.assert_frame_equal(first, again)


def test_more_folds_than_photos_of_a_class_is_refused_by_name() -> None:
    features, _, given = synthetic_features()

    with pytest.raises(InputError, match=r"audit\.folds = 200 .* 'cat' has"):
        score_labels(features, given, list(CLASSES), folds=200, seed=0)
