"""Label quality from frozen features: out-of-fold probabilities, cleanlab's scores, outliers.

A logistic regression is fitted on all folds but one and predicts the held-out fold, so every
photo's probability comes from a model that never saw its label. cleanlab turns those into a
label-quality score (the out-of-fold probability of the given label), a confident-learning
"label issue" flag, and an outlier score from the features' nearest neighbours (a photo unlike
the rest: often neither a cat nor a dog).
"""

from __future__ import annotations

import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.outlier import OutOfDistribution
from cleanlab.rank import get_label_quality_scores
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from catdog_pipeline.core.errors import InputError

OUTLIER_NEIGHBOURS = 10  # cleanlab's default k
MAX_ITERATIONS = 2000  # of the logistic regression's solver


def out_of_fold_probabilities(
    features: np.ndarray, labels: np.ndarray, class_names: list[str], folds: int, seed: int
) -> np.ndarray:
    """(n, classes) probabilities, each row from the fold model that did not train on it."""
    counts = np.bincount(labels, minlength=len(class_names))
    for name, count in zip(class_names, counts, strict=True):
        if count < folds:
            raise InputError(
                f"audit.folds = {folds} needs at least {folds} kept images of each class; "
                f"'{name}' has {count}. Lower audit.folds or add photos."
            )
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITERATIONS))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(classifier, features, labels, cv=splitter, method="predict_proba")


def score_labels(
    features: np.ndarray, labels: np.ndarray, class_names: list[str], folds: int, seed: int
) -> dict[str, np.ndarray]:
    """Per photo: out-of-fold `probabilities`, `label_quality` (0..1, low = likely wrong),
    `suggested` (class index), `label_issue` (cleanlab's flag) and `outlier_score` (0..1,
    low = unlike the other photos)."""
    probabilities = out_of_fold_probabilities(features, labels, class_names, folds, seed)
    neighbours = min(OUTLIER_NEIGHBOURS, len(features) - 1)
    outliers = OutOfDistribution(params={"k": neighbours})
    return {
        "probabilities": probabilities,
        "label_quality": get_label_quality_scores(labels, probabilities),
        "suggested": probabilities.argmax(axis=1),
        "label_issue": find_label_issues(labels, probabilities, n_jobs=1),
        "outlier_score": outliers.fit_score(features=features, verbose=False),
    }
