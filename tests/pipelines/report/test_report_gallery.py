"""Which test images the gallery and Grad-CAM show, and how thumbnails are made."""

from __future__ import annotations

import base64
import io

import pandas as pd
import pytest
from PIL import Image

from catdog_pipeline.pipelines.report.gallery import jpeg_data_uri, most_confident, thumbnail


def _predictions(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    """(name, label, P(dog)) rows -> a predictions table, predicted at threshold 0.5."""
    table = pd.DataFrame(rows, columns=["original_path", "label", "probability"])
    table["predicted"] = table["probability"].map(lambda p: "dog" if p >= 0.5 else "cat")
    table["correct"] = table["predicted"] == table["label"]
    return table


PREDICTIONS = _predictions(
    [
        ("cat-a", "cat", 0.70),  # wrong, P(true) 0.30
        ("dog-a", "dog", 0.05),  # wrong, P(true) 0.05: the worst
        ("cat-b", "cat", 0.10),  # right, P(true) 0.90
        ("dog-b", "dog", 0.25),  # wrong, P(true) 0.25
        ("cat-c", "cat", 0.75),  # wrong, P(true) 0.25: ties with dog-b, comes after it
        ("dog-c", "dog", 0.99),  # right, P(true) 0.99
        ("cat-d", "cat", 0.55),  # wrong, P(true) 0.45
    ]
)


def _names(table: pd.DataFrame) -> list[str]:
    return table["original_path"].tolist()


def test_most_confidently_wrong_come_first():
    wrong = most_confident(PREDICTIONS, 10, "dog", correct=False)
    assert _names(wrong) == ["dog-a", "dog-b", "cat-c", "cat-a", "cat-d"]
    assert wrong["probability_of_truth"].round(2).tolist() == [0.05, 0.25, 0.25, 0.3, 0.45]


def test_count_is_respected_and_ties_keep_the_input_order():
    assert _names(most_confident(PREDICTIONS, 3, "dog", correct=False)) == [
        "dog-a",
        "dog-b",
        "cat-c",
    ]
    reversed_ties = PREDICTIONS.iloc[[4, 3]]  # cat-c before dog-b this time
    assert _names(most_confident(reversed_ties, 2, "dog", correct=False)) == ["cat-c", "dog-b"]


def test_most_confidently_right_come_first_and_none_is_fine():
    assert _names(most_confident(PREDICTIONS, 2, "dog", correct=True)) == ["dog-c", "cat-b"]
    assert most_confident(PREDICTIONS, 0, "dog", correct=False).empty
    all_right = PREDICTIONS[PREDICTIONS["correct"]]
    assert most_confident(all_right, 5, "dog", correct=False).empty


def test_a_negative_count_is_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        most_confident(PREDICTIONS, -1, "dog", correct=False)


def test_thumbnails_fit_the_size_and_embed_as_jpeg(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGBA", (300, 150), (10, 200, 30, 255)).save(path)
    small = thumbnail(path, 64, max_pixels=10**6)
    assert small.size == (64, 32) and small.mode == "RGB"
    uri = jpeg_data_uri(small)
    assert uri.startswith("data:image/jpeg;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert decoded.format == "JPEG" and decoded.size == (64, 32)
