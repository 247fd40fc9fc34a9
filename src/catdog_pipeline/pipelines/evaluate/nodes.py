"""Evaluate: the trained model on the test split -> predictions, metrics, curves and figures.

TensorFlow (through the train stage's input module), scikit-learn and matplotlib are imported
inside the functions that use them: every `kedro run` imports this module through the pipeline
registry, and the data stages must not pay for them. For the same reason a Keras model or a
matplotlib Figure is annotated `Any`: Kedro resolves node type hints at run time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.metrics import SCALAR_METRICS
from catdog_pipeline.core.model_card import card_classes, decide

logger = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["image_path", "original_path", "label", "probability", "predicted", "correct"]


def class_names(model_card: Mapping[str, Any]) -> list[str]:
    """The model's classes in index order: index 1 is the class the sigmoid gives P of."""
    return list(card_classes(model_card))


def predict_test_split(
    model: Any,
    split_manifest: pd.DataFrame,
    clean_images: Path,
    model_card: Mapping[str, Any],
    evaluate: Mapping[str, Any],
) -> pd.DataFrame:
    """Score every `test` image of the split manifest (never train or val).

    Images stream through the train stage's tf.data input, `evaluate.batch_size` at a time, so
    they are decoded exactly as in training. Returns one row per test image: image_path,
    original_path, label, probability (P of class index 1), predicted (the class at
    `evaluate.threshold`) and correct.
    """
    import tensorflow as tf

    from catdog_pipeline.core import inference, tf_input

    classes = class_names(model_card)
    test = split_manifest.loc[split_manifest["split"] == "test", PREDICTION_COLUMNS[:3]]
    if test.empty:
        raise InputError(
            "split_manifest has no `test` images: raise split.fractions.test or add photos, "
            "then re-run the split stage."
        )
    unknown = sorted(set(test["label"]) - set(classes))
    if unknown:
        raise InputError(
            f"Test labels {unknown} are not among the model's classes {classes}: the split "
            "manifest and the model come from different `classes` params; re-run train."
        )
    batch_size = int(evaluate["batch_size"])
    if batch_size < 1:
        raise InputError(f"evaluate.batch_size must be >= 1, got {batch_size}")
    images = tf_input.image_dataset(
        tf_input.image_files(split_manifest, clean_images, "test"),
        tf_input.split_labels(split_manifest, "test"),  # ignored by predict; the input wants them
        image_size=model.input_shape[1:3],
        batch_size=batch_size,
    )
    probabilities = tf.function(
        inference.probability_function(model, model_card.get("test_time_augmentation"))
    )
    probability = np.concatenate([probabilities(batch).numpy() for batch, _ in images]).astype(
        np.float64
    )
    return label_predictions(test, probability, classes, float(evaluate["threshold"]))


def label_predictions(
    test: pd.DataFrame, probability: Sequence[float], classes: Sequence[str], threshold: float
) -> pd.DataFrame:
    """The predictions table: `test` rows + probability, predicted class and whether it is right."""
    probability = np.asarray(probability, dtype=np.float64)
    if not 0.0 < threshold < 1.0:
        raise InputError(f"evaluate.threshold must be strictly between 0 and 1, got {threshold}")
    if len(probability) != len(test):
        raise InputError(f"{len(probability)} probabilities for {len(test)} test images")
    predictions = test.reset_index(drop=True).copy()
    predictions["probability"] = probability
    predictions["predicted"], _ = decide(probability, classes, threshold)
    predictions["correct"] = predictions["predicted"] == predictions["label"]
    return predictions[PREDICTION_COLUMNS]


def _is_positive(labels: pd.Series, classes: Sequence[str]) -> np.ndarray:
    return (labels == classes[1]).to_numpy(dtype=int)


def compute_metrics(
    test_predictions: pd.DataFrame, model_card: Mapping[str, Any], evaluate: Mapping[str, Any]
) -> dict[str, Any]:
    """Test metrics (scikit-learn), with class index 1 as the positive class.

    Top level: accuracy, precision, recall, f1, roc_auc (null when the test split holds one
    class only), log_loss (Kaggle's metric), threshold, n_images; then per_class
    (precision/recall/f1/support) and confusion_matrix (actual class -> predicted class -> n).
    """
    from sklearn import metrics

    classes = class_names(model_card)
    y_true = _is_positive(test_predictions["label"], classes)
    y_pred = _is_positive(test_predictions["predicted"], classes)
    probability = test_predictions["probability"].to_numpy(dtype=float)
    report = metrics.classification_report(
        y_true, y_pred, labels=[0, 1], target_names=classes, output_dict=True, zero_division=0
    )
    matrix = metrics.confusion_matrix(y_true, y_pred, labels=[0, 1])
    return {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "precision": float(metrics.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(metrics.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(metrics.f1_score(y_true, y_pred, zero_division=0)),
        "roc_auc": _roc_auc(y_true, probability),
        "log_loss": float(metrics.log_loss(y_true, probability, labels=[0, 1])),
        "threshold": float(evaluate["threshold"]),
        "n_images": len(test_predictions),
        "per_class": {
            name: {
                "precision": float(report[name]["precision"]),
                "recall": float(report[name]["recall"]),
                "f1": float(report[name]["f1-score"]),
                "support": int(report[name]["support"]),
            }
            for name in classes
        },
        "confusion_matrix": {
            actual: {predicted: int(matrix[i, j]) for j, predicted in enumerate(classes)}
            for i, actual in enumerate(classes)
        },
    }


def _roc_auc(y_true: np.ndarray, probability: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    if len(np.unique(y_true)) < 2:
        logger.warning("The test split holds one class only: ROC AUC is undefined (null).")
        return None
    return float(roc_auc_score(y_true, probability))


def roc_points(test_predictions: pd.DataFrame, model_card: Mapping[str, Any]) -> pd.DataFrame:
    """The ROC curve as DVC plots it: fpr, tpr and the threshold of each point."""
    from sklearn.metrics import roc_curve

    classes = class_names(model_card)
    fpr, tpr, threshold = roc_curve(
        _is_positive(test_predictions["label"], classes),
        test_predictions["probability"].to_numpy(dtype=float),
        drop_intermediate=True,
    )
    # scikit-learn gives the first point ("call nothing positive") the threshold +inf; it is
    # written as 1.0, the top of the probability scale, so the CSV stays numeric.
    return pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(threshold, 1.0)})


def precision_recall_points(
    test_predictions: pd.DataFrame, model_card: Mapping[str, Any]
) -> pd.DataFrame:
    """The precision-recall curve as DVC plots it: recall, precision and each point's threshold."""
    from sklearn.metrics import precision_recall_curve

    classes = class_names(model_card)
    precision, recall, threshold = precision_recall_curve(
        _is_positive(test_predictions["label"], classes),
        test_predictions["probability"].to_numpy(dtype=float),
    )
    # The curve's last point (recall 0, precision 1) has no threshold: any above the top score.
    return pd.DataFrame(
        {"recall": recall, "precision": precision, "threshold": np.append(threshold, 1.0)}
    )


def confusion_pairs(test_predictions: pd.DataFrame) -> pd.DataFrame:
    """One (actual, predicted) row per test image: DVC's `confusion` plot template counts them."""
    return pd.DataFrame(
        {"actual": test_predictions["label"], "predicted": test_predictions["predicted"]}
    )


def mlflow_test_metrics(metrics: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """The scalar test metrics in kedro-mlflow's metrics-history form (undefined ones left out)."""
    return {
        name: {"value": float(metrics[name]), "step": 0}
        for name in SCALAR_METRICS
        if metrics.get(name) is not None and math.isfinite(metrics[name])
    }


def model_for_registry(
    model: Any,
    model_card: Mapping[str, Any],
    metrics: Mapping[str, Any],
    evaluate: Mapping[str, Any],
) -> dict[str, Any]:
    """The trained model with what its MLflow form needs: card, decision threshold, test scores.

    Taking the metrics also orders it after them: a model is registered only once evaluated.
    """
    return {
        "model": model,
        "model_card": dict(model_card),
        "threshold": float(evaluate["threshold"]),
        "test_metrics": {name: metrics[name] for name in SCALAR_METRICS},
    }
