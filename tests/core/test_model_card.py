"""The one threshold-to-label rule, and every place that turns a probability into a label."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from catdog_pipeline.core.model_card import ModelCard, ModelLoadError, decide
from catdog_pipeline.pipelines.evaluate.nodes import label_predictions
from catdog_pipeline.pipelines.promote.nodes import scores
from catdog_pipeline.serving.mlflow_model import CatdogModel

CARD = {
    "classes": ["cat", "dog"],
    "positive_class": "dog",
    "image_size": [32, 32],
    "resize_mode": "pad",
    "max_pixels": 1000,
}
# P(dog) below, at and above a threshold of 0.7.
P_DOG = [0.2, 0.69, 0.7, 0.95]
THRESHOLD = 0.7
EXPECTED_LABELS = ["cat", "cat", "dog", "dog"]
EXPECTED_CONFIDENCE = [0.8, 0.31, 0.7, 0.95]


def test_decide_gives_the_positive_class_from_the_threshold_on_and_its_confidence():
    labels, confidence = decide(P_DOG, ("cat", "dog"), THRESHOLD)
    assert labels.tolist() == EXPECTED_LABELS
    assert confidence == pytest.approx(EXPECTED_CONFIDENCE)


def test_evaluate_the_card_the_pyfunc_and_the_gate_apply_the_same_rule():
    card = ModelCard.from_dict(CARD, "card.json")
    from_card = [card.label(p, THRESHOLD) for p in P_DOG]
    assert [label for label, _ in from_card] == EXPECTED_LABELS
    assert [p for _, p in from_card] == pytest.approx(EXPECTED_CONFIDENCE)

    test = pd.DataFrame(
        {"image_path": list("abcd"), "original_path": list("abcd"), "label": ["dog"] * 4}
    )
    evaluated = label_predictions(test, P_DOG, ["cat", "dog"], THRESHOLD)
    assert evaluated["predicted"].tolist() == EXPECTED_LABELS

    pyfunc = CatdogModel(threshold=THRESHOLD)
    pyfunc._predictor = SimpleNamespace(
        card=card,
        prepare=lambda image: np.zeros((32, 32, 3), np.uint8),
        positive_probabilities=lambda batch: P_DOG,
    )
    served = pyfunc.predict(None, pd.DataFrame({"image": [b"x"] * 4}))
    assert served["label"].tolist() == EXPECTED_LABELS
    assert served["probability"].tolist() == pytest.approx(EXPECTED_CONFIDENCE)

    # The gate's accuracy counts the same images as dogs: truth "all dogs" -> 2 of 4 right.
    assert scores([True] * 4, P_DOG, THRESHOLD)["accuracy"] == 0.5


def test_a_card_whose_positive_class_is_not_the_sigmoids_is_refused():
    with pytest.raises(ModelLoadError, match=r"positive_class 'cat' is not classes\[1\]"):
        ModelCard.from_dict({**CARD, "positive_class": "cat"}, "card.json")
