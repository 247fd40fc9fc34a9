"""Evaluate nodes on a hand-made table: metrics, curves, confusion data, figures, MLflow form."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from catdog_pipeline.core.plots import (
    plot_confusion_matrix,
    plot_precision_recall,
    plot_roc,
    plot_training_curves,
)
from catdog_pipeline.pipelines.evaluate.nodes import (
    PREDICTION_COLUMNS,
    class_names,
    compute_metrics,
    confusion_pairs,
    label_predictions,
    mlflow_test_metrics,
    model_for_registry,
    precision_recall_points,
    roc_points,
)

CARD = {"classes": ["cat", "dog"], "positive_class": "dog"}
EVALUATE = {"threshold": 0.5, "batch_size": 4}
LABELS = ["cat"] * 5 + ["dog"] * 5
# P(dog). At 0.5: one cat (0.70) is called a dog, two dogs (0.45, 0.30) are called cats.
P_DOG = [0.10, 0.40, 0.45, 0.20, 0.70, 0.90, 0.45, 0.80, 0.60, 0.30]


@pytest.fixture
def predictions() -> pd.DataFrame:
    test = pd.DataFrame(
        {
            "image_path": [f"{i:02d}/{i}.jpg" for i in range(10)],
            "original_path": [f"PetImages/{label}/{i}.jpg" for i, label in enumerate(LABELS)],
            "label": LABELS,
        }
    )
    return label_predictions(test, np.array(P_DOG), ["cat", "dog"], 0.5)


def test_predictions_table_applies_the_threshold_inclusively(predictions) -> None:
    assert list(predictions.columns) == PREDICTION_COLUMNS
    assert predictions["predicted"].tolist() == [
        *["cat", "cat", "cat", "cat", "dog"],
        *["dog", "cat", "dog", "dog", "cat"],
    ]
    assert predictions["correct"].tolist() == [True] * 4 + [False, True, False, True, True, False]
    at_threshold = label_predictions(predictions[PREDICTION_COLUMNS[:3]].head(1), [0.5], "ab", 0.5)
    assert at_threshold["predicted"].tolist() == ["b"]


def test_metrics_match_hand_counts_and_scikit_learn(predictions) -> None:
    result = compute_metrics(predictions, CARD, EVALUATE)

    # TP 3, FN 2, FP 1, TN 4
    assert result["accuracy"] == pytest.approx(0.7)
    assert result["precision"] == pytest.approx(0.75)
    assert result["recall"] == pytest.approx(0.6)
    assert result["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert result["roc_auc"] == pytest.approx(19.5 / 25)  # dog-above-cat pairs, ties count half
    y = np.array([label == "dog" for label in LABELS], dtype=float)
    p = np.array(P_DOG)
    expected_log_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert result["log_loss"] == pytest.approx(expected_log_loss)

    y_pred = (p >= 0.5).astype(int)
    assert result["accuracy"] == pytest.approx(skm.accuracy_score(y, y_pred))
    assert result["f1"] == pytest.approx(skm.f1_score(y, y_pred))
    assert result["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert result["log_loss"] == pytest.approx(skm.log_loss(y, p))
    assert result["threshold"] == 0.5
    assert result["n_images"] == 10


def test_per_class_scores_and_confusion_matrix(predictions) -> None:
    result = compute_metrics(predictions, CARD, EVALUATE)

    assert result["per_class"]["cat"] == pytest.approx(
        {"precision": 4 / 6, "recall": 4 / 5, "f1": 2 * (4 / 6) * 0.8 / (4 / 6 + 0.8), "support": 5}
    )
    assert result["per_class"]["dog"] == pytest.approx(
        {"precision": 0.75, "recall": 0.6, "f1": result["f1"], "support": 5}
    )
    assert result["confusion_matrix"] == {"cat": {"cat": 4, "dog": 1}, "dog": {"cat": 2, "dog": 3}}


def test_one_class_test_split_has_no_roc_auc(predictions) -> None:
    cats_only = predictions[predictions["label"] == "cat"]

    result = compute_metrics(cats_only, CARD, EVALUATE)

    assert result["roc_auc"] is None
    assert math.isfinite(result["log_loss"])
    assert "roc_auc" not in mlflow_test_metrics(result)


def test_roc_points_are_scikit_learns_curve_with_finite_thresholds(predictions) -> None:
    roc = roc_points(predictions, CARD)

    y = [label == "dog" for label in LABELS]
    fpr, tpr, _ = skm.roc_curve(y, P_DOG)
    assert list(roc.columns) == ["fpr", "tpr", "threshold"]
    np.testing.assert_allclose(roc["fpr"], fpr)
    np.testing.assert_allclose(roc["tpr"], tpr)
    assert roc["threshold"].iloc[0] == 1.0
    assert np.isfinite(roc["threshold"]).all()


def test_precision_recall_points_give_every_point_a_threshold(predictions) -> None:
    curve = precision_recall_points(predictions, CARD)

    y = [label == "dog" for label in LABELS]
    precision, recall, thresholds = skm.precision_recall_curve(y, P_DOG)
    assert list(curve.columns) == ["recall", "precision", "threshold"]
    np.testing.assert_allclose(curve["precision"], precision)
    np.testing.assert_allclose(curve["recall"], recall)
    np.testing.assert_allclose(curve["threshold"], [*thresholds, 1.0])


def test_confusion_pairs_have_one_row_per_test_image(predictions) -> None:
    pairs = confusion_pairs(predictions)

    assert list(pairs.columns) == ["actual", "predicted"]
    assert len(pairs) == 10
    assert ((pairs["actual"] == "cat") & (pairs["predicted"] == "dog")).sum() == 1


def test_mlflow_metrics_are_the_scalars_at_step_zero(predictions) -> None:
    result = compute_metrics(predictions, CARD, EVALUATE)

    logged = mlflow_test_metrics(result)

    assert list(logged) == ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"]
    assert logged["accuracy"] == {"value": pytest.approx(0.7), "step": 0}


def test_model_for_registry_carries_card_threshold_and_scores(predictions) -> None:
    result = compute_metrics(predictions, CARD, EVALUATE)

    bundle = model_for_registry("the model", CARD, result, {"threshold": 0.7, "batch_size": 1})

    assert bundle["model"] == "the model"
    assert bundle["threshold"] == 0.7
    assert bundle["test_metrics"]["accuracy"] == pytest.approx(0.7)
    assert set(bundle["test_metrics"]) == {
        "accuracy",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "log_loss",
    }


def test_a_card_without_two_classes_is_refused() -> None:
    with pytest.raises(ValueError, match="exactly two classes"):
        class_names({"classes": ["cat"]})


@pytest.mark.parametrize("threshold", [0.0, 1.0, 1.5])
def test_a_threshold_outside_zero_one_is_refused(predictions, threshold) -> None:
    with pytest.raises(ValueError, match="evaluate.threshold"):
        label_predictions(predictions[PREDICTION_COLUMNS[:3]], np.array(P_DOG), "ab", threshold)


def _png_size(figure) -> tuple[int, int]:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    data = buffer.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_figures_render_as_png(predictions) -> None:
    result = compute_metrics(predictions, CARD, EVALUATE)
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": [0.7, 0.5, 0.4],
            "accuracy": [0.5, 0.7, 0.8],
            "val_loss": [0.7, 0.6, 0.6],
            "val_accuracy": [0.5, 0.6, 0.7],
        }
    )

    roc = plot_roc(roc_points(predictions, CARD), result)
    curves = plot_training_curves(history)

    assert _png_size(roc) == (500, 450)
    assert _png_size(plot_precision_recall(precision_recall_points(predictions, CARD), result))
    assert _png_size(plot_confusion_matrix(result))
    assert _png_size(curves) == (900, 400)
    assert [axes.get_title() for axes in curves.axes] == ["Loss", "Accuracy"]
    assert [len(axes.lines) for axes in curves.axes] == [2, 2]  # train and validation
    assert "0.780" in roc.axes[0].get_legend().get_texts()[0].get_text()


def test_training_curves_need_loss_and_accuracy() -> None:
    with pytest.raises(ValueError, match=r"\['accuracy'\]"):
        plot_training_curves(pd.DataFrame({"epoch": [1], "loss": [0.5]}))
