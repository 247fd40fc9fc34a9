"""Promote: score the new model (challenger) and the `@champion` on the gate set, then decide.

The challenger takes the alias only if it beats the champion on `promote.metric` by more than
`promote.min_improvement` and loses no more than `promote.accuracy_tolerance` of accuracy; a
tie keeps the champion. TensorFlow and scikit-learn are imported inside the functions (every
`kedro run` imports this module through the pipeline registry).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.model_card import predicts_positive
from catdog_pipeline.core.params_schema import PROMOTION_METRICS

PROMOTED, KEPT, FIRST = "promoted", "kept_champion", "first_champion"
LOWER_IS_BETTER = frozenset({"log_loss"})


def score_on_gate(
    model: Any,
    model_card: Mapping[str, Any],
    gate_images: pd.DataFrame,
    clean_images: Path,
    threshold: float,
) -> dict[str, float]:
    """log_loss, accuracy (at `threshold`) and n_images of one model on the gate images.

    Each image is prepared as its model card says (`prepare_image`, as predict and serve do)
    and scored with the card's test-time augmentation (`core.inference`).
    """
    probability = gate_probabilities(model, model_card, gate_images, clean_images)
    positive = list(model_card["classes"])[1]
    return scores(gate_images["label"].eq(positive).to_numpy(), probability, threshold)


def gate_probabilities(
    model: Any, model_card: Mapping[str, Any], gate_images: pd.DataFrame, clean_images: Path
) -> np.ndarray:
    """P(class index 1) for every gate image, in order, 32 images per model call."""
    import tensorflow as tf

    from catdog_pipeline.core.inference import probability_function
    from catdog_pipeline.images import prepare_image

    infer = tf.function(probability_function(model, model_card.get("test_time_augmentation")))
    paths = [Path(clean_images) / name for name in gate_images["image_path"]]
    answers = []
    for start in range(0, len(paths), 32):
        batch = np.stack(
            [
                prepare_image(
                    path,
                    size=model_card["image_size"],
                    resize_mode=model_card["resize_mode"],
                    max_pixels=int(model_card["max_pixels"]),
                )
                for path in paths[start : start + 32]
            ]
        )
        answers.append(infer(batch).numpy())
    return np.concatenate(answers).astype(np.float64)


def scores(is_positive: Sequence[bool], probability: Sequence[float], threshold: float) -> dict:
    """log_loss, accuracy at `threshold`, n_images: the figures the gate compares."""
    from sklearn.metrics import accuracy_score, log_loss

    truth = np.asarray(is_positive, dtype=int)
    probability = np.asarray(probability, dtype=np.float64)
    return {
        "log_loss": float(log_loss(truth, probability, labels=[0, 1])),
        "accuracy": float(accuracy_score(truth, predicts_positive(probability, threshold))),
        "n_images": len(truth),
    }


def score_champion(
    champion: Mapping[str, Any],
    gate_images: pd.DataFrame,
    clean_images: Path,
    threshold: float,
) -> dict[str, Any]:
    """The champion's registry version and gate scores; {} when there is no champion yet
    (Kedro saves no None)."""
    if not champion:
        return {}
    return {
        "version": str(champion["version"]),
        "scores": score_on_gate(
            champion["model"], champion["model_card"], gate_images, clean_images, threshold
        ),
    }


def challenger_version(model_card: Mapping[str, Any], registered_versions: pd.DataFrame) -> str:
    """The newest registry version logged by the run that trained the model card's model."""
    run_id = model_card.get("mlflow_run_id")
    mine = registered_versions[registered_versions["training_run_id"] == run_id]
    if run_id is None or mine.empty:
        raise InputError(
            f"The model (MLflow run {run_id}) has no registered version: run the evaluate "
            "stage with MLflow tracking on, which registers it, then promote."
        )
    return str(max(mine["version"].astype(int)))


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    metric: str,
    min_improvement: float,
    accuracy_tolerance: float,
) -> tuple[str, str]:
    """(decision, reason) from the two models' gate scores; a pure function of the numbers."""
    if metric not in PROMOTION_METRICS:
        raise InputError(f"promote.metric must be one of {PROMOTION_METRICS}, got {metric!r}")
    if champion is None:
        return FIRST, "no champion yet: the first evaluated model becomes it"
    new, old = challenger[metric], champion[metric]
    improvement = old - new if metric in LOWER_IS_BETTER else new - old
    accuracy_drop = champion["accuracy"] - challenger["accuracy"]
    compared = f"{metric} {new:.4f} vs {old:.4f}"
    if not math.isfinite(improvement) or improvement <= min_improvement:
        return KEPT, f"{compared}: not better by more than {min_improvement}"
    if accuracy_drop > accuracy_tolerance:
        return KEPT, (
            f"{compared} is better, but accuracy falls by {accuracy_drop:.4f} "
            f"(over the tolerance {accuracy_tolerance})"
        )
    return PROMOTED, f"{compared}: better by {improvement:.4f} (more than {min_improvement})"


def promotion_record(
    challenger_scores: Mapping[str, float],
    champion: Mapping[str, Any],
    model_card: Mapping[str, Any],
    registered_versions: pd.DataFrame,
    promote: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The decision as reports/promotion.json has it, twice: for the file and for the alias.

    `champion` is score_champion's answer: {} when there is none yet.
    """
    version = challenger_version(model_card, registered_versions)
    metric = str(promote["metric"])
    if champion and champion["version"] == version:
        decision, reason = KEPT, f"version {version} is the champion already"
    else:
        decision, reason = decide(
            challenger_scores,
            champion["scores"] if champion else None,
            metric,
            float(promote["min_improvement"]),
            float(promote["accuracy_tolerance"]),
        )
    record = {
        "decision": decision,
        "metric": metric,
        "reason": reason,
        "challenger": {
            "version": version,
            "run_id": model_card.get("mlflow_run_id"),
            "scores": dict(challenger_scores),
        },
        "champion": dict(champion) if champion else None,
        "decided_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return record, record
