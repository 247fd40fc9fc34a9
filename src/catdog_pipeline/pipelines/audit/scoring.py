"""Label quality from frozen features: out-of-fold probabilities, cleanlab's scores, outliers.

A logistic regression is fitted on all folds but one and predicts the held-out fold, so every
photo's probability comes from a model that never saw its label. Its L2 strength is chosen
inside each training part by cross-validated log loss (`LogisticRegressionCV`), so the
probabilities stay calibrated whatever the data: on 1280 features a weakly regularised fit
calls many photos certain, and ranks a hard photo with the right label next to a wrong one.
cleanlab turns the probabilities into a label-quality score (the out-of-fold probability of
the given label) and a confident-learning "label issue" flag, and scores outliers from the
features' nearest neighbours (a photo unlike the rest: often neither a cat nor a dog).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import sklearn
from cleanlab.filter import find_label_issues
from cleanlab.outlier import OutOfDistribution
from cleanlab.rank import get_label_quality_scores
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from catdog_pipeline.core.errors import InputError

REGULARIZATION_GRID = np.logspace(-4, 0, 5)  # C, the inverse L2 strength, on standardised features
INNER_FOLDS = 3  # choosing C inside each training part
MAX_ITERATIONS = 2000  # of the logistic regression's solver
OUTLIER_NEIGHBOURS = 10  # cleanlab's default k
NEIGHBOUR_MEMORY_MIB = 256  # scikit-learn's working memory for the neighbour search


def minimum_per_class(folds: int) -> int:
    """Photos a class needs so every training part can still be split INNER_FOLDS ways."""
    return next(n for n in itertools.count(folds) if n - math.ceil(n / folds) >= INNER_FOLDS)


def out_of_fold_probabilities(
    features: np.ndarray, labels: np.ndarray, class_names: list[str], folds: int, seed: int
) -> np.ndarray:
    """(n, classes) probabilities, each row from the fold model that did not train on it."""
    counts = np.bincount(labels, minlength=len(class_names))
    for name, count in zip(class_names, counts, strict=True):
        if count < minimum_per_class(folds):
            raise InputError(
                f"audit.folds = {folds} needs at least {minimum_per_class(folds)} kept images "
                f"of each class; '{name}' has {count}. Lower audit.folds or add photos."
            )
    classifier = make_pipeline(
        StandardScaler(),
        LogisticRegressionCV(
            Cs=REGULARIZATION_GRID,
            cv=INNER_FOLDS,
            scoring="neg_log_loss",
            max_iter=MAX_ITERATIONS,
            l1_ratios=(0.0,),
            use_legacy_attributes=False,
        ),
    )
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
    with sklearn.config_context(working_memory=NEIGHBOUR_MEMORY_MIB):
        outlier_score = OutOfDistribution(params={"k": neighbours}).fit_score(
            features=features, verbose=False
        )
    return {
        "probabilities": probabilities,
        "label_quality": get_label_quality_scores(labels, probabilities),
        "suggested": probabilities.argmax(axis=1),
        "label_issue": find_label_issues(labels, probabilities, n_jobs=1),
        "outlier_score": outlier_score,
    }
