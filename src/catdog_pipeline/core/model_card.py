"""The model card: how a trained model wants its input and how to read its output.

The train stage writes it as model_card.json beside the .keras file; evaluate and report read
its classes with `card_classes`, and `catdog predict`, the service and the MLflow pyfunc read
it whole as a typed `ModelCard`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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
                card.positive_class not in card.classes,
                f"positive_class {card.positive_class!r} is not one of {list(card.classes)}",
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
        return next(c for c in self.classes if c != self.positive_class)

    def label(self, p_positive: float, threshold: float = 0.5) -> tuple[str, float]:
        """The reported label and its confidence, from the probability of the positive class."""
        if p_positive >= threshold:
            return self.positive_class, p_positive
        return self.negative_class, 1.0 - p_positive
