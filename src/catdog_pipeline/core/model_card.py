"""The model card: how a trained model wants its input and how to read its output.

The train stage writes it as model_card.json beside the .keras file; evaluate and report read
its classes with `card_classes`, and `catdog predict`, the service and the MLflow pyfunc read
it whole as a typed `ModelCard`. `decide` is the one threshold-to-label rule they all apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from catdog_pipeline.core.errors import CatdogError, InputError
from catdog_pipeline.core.inference import check_test_time_augmentation
from catdog_pipeline.images import RESIZE_MODES

MODEL_CARD_NAME = "model_card.json"
# Cards written before min_side was recorded: params.yaml's clean.min_side (its default),
# the smallest side the model's training images could have.
DEFAULT_MIN_SIDE = 32


class ModelLoadError(CatdogError, RuntimeError):
    """The model or its card is missing or does not match the serving contract."""


def card_classes(card: Mapping[str, Any]) -> tuple[str, str]:
    """(negative, positive): the card's two classes in index order (the sigmoid gives P of 1)."""
    classes = [str(name) for name in card.get("classes") or []]
    if len(classes) != 2:
        raise InputError(
            f"model_card.json must list exactly two classes (index 1 = the sigmoid's class); "
            f"got {classes!r}. Re-run the train stage (`dvc repro train`)."
        )
    return classes[0], classes[1]


def predicts_positive(p_positive: ArrayLike, threshold: float) -> np.ndarray:
    """Whether each probability of the positive class reaches `threshold` (a tie is positive)."""
    return np.asarray(p_positive, dtype=np.float64) >= threshold


def decide(
    p_positive: ArrayLike, classes: Sequence[str], threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each image's label and that label's probability, from P(classes[1]) (the sigmoid's).

    The threshold-to-label rule of evaluate, `catdog predict`, the service and the MLflow pyfunc.
    """
    p = np.asarray(p_positive, dtype=np.float64)
    positive = predicts_positive(p, threshold)
    return np.where(positive, classes[1], classes[0]), np.where(positive, p, 1.0 - p)


@dataclass(frozen=True)
class ModelCard:
    """How the model wants its input and how to read its single sigmoid output.

    `min_side` is the clean stage's `clean.min_side` at training time: an image with a
    shorter side is refused everywhere (quarantined by clean, an error row in `catdog
    predict`, a 422 from the service), so nothing classifies what training never saw.
    """

    classes: tuple[str, str]
    positive_class: str
    image_size: tuple[int, int]
    resize_mode: str
    max_pixels: int
    test_time_augmentation: str | None = None
    min_side: int = DEFAULT_MIN_SIDE

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> ModelCard:
        """Validate a parsed model_card.json; errors name `source` and the offending key."""
        try:
            classes = card_classes(data)
        except InputError as exc:
            raise ModelLoadError(f"{source}: {exc}") from exc
        try:
            card = cls(
                classes=classes,
                positive_class=str(data["positive_class"]),
                image_size=tuple(int(s) for s in data["image_size"]),  # type: ignore[arg-type]
                resize_mode=str(data["resize_mode"]),
                max_pixels=int(data["max_pixels"]),
                test_time_augmentation=check_test_time_augmentation(
                    data.get("test_time_augmentation")
                ),
                min_side=int(data.get("min_side", DEFAULT_MIN_SIDE)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"{source}: missing or malformed key {exc}") from exc
        problems = [
            (
                card.positive_class != card.classes[1],
                f"positive_class {card.positive_class!r} is not classes[1] "
                f"({card.classes[1]!r}), the class whose probability the model gives",
            ),
            (
                len(card.image_size) != 2 or min(card.image_size) < 1,
                f"image_size must be [height, width], got {list(card.image_size)}",
            ),
            (
                card.resize_mode not in RESIZE_MODES,
                f"resize_mode must be one of {RESIZE_MODES}, got {card.resize_mode!r}",
            ),
            (card.max_pixels < 1, f"max_pixels must be positive, got {card.max_pixels}"),
            (card.min_side < 1, f"min_side must be positive, got {card.min_side}"),
        ]
        for failed, message in problems:
            if failed:
                raise ModelLoadError(f"{source}: {message}")
        return card

    @property
    def negative_class(self) -> str:
        return self.classes[0]

    def label(self, p_positive: float, threshold: float = 0.5) -> tuple[str, float]:
        """The reported label and its confidence, from the probability of the positive class."""
        labels, confidences = decide([p_positive], self.classes, threshold)
        return str(labels[0]), float(confidences[0])
