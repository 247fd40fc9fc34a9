"""Predictor: model card checks, loading errors, batched prediction with per-file errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catdog_pipeline.images import prepare_image
from catdog_pipeline.serving.predictor import ModelCard, ModelLoadError, load_predictor

CARD = {
    "classes": ["cat", "dog"],
    "positive_class": "dog",
    "image_size": [32, 32],
    "resize_mode": "pad",
    "max_pixels": 1000,
}


def test_card_reads_the_positive_probability_as_a_label_and_its_confidence():
    card = ModelCard.from_dict(CARD, "card.json")
    assert card.label(0.8) == ("dog", 0.8)
    assert card.label(0.5) == ("dog", 0.5)
    label, confidence = card.label(0.25)
    assert (label, confidence) == ("cat", 0.75)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"positive_class": "horse"}, "positive_class 'horse'"),
        ({"classes": ["cat"]}, "two classes"),
        ({"image_size": [32]}, "image_size"),
        ({"resize_mode": "stretch"}, "resize_mode"),
        ({"max_pixels": 0}, "max_pixels"),
        ({"image_size": None}, "malformed"),
    ],
)
def test_card_with_a_bad_field_is_refused_naming_the_file(change, message):
    with pytest.raises(ModelLoadError, match=message) as error:
        ModelCard.from_dict({**CARD, **change}, "somewhere/model_card.json")
    assert "somewhere/model_card.json" in str(error.value)


def test_missing_model_says_how_to_get_one(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="dvc repro train"):
        load_predictor(tmp_path / "model.keras")


def test_model_without_a_card_is_refused(tmp_path: Path, tiny_model_path: Path):
    lonely = tmp_path / "model.keras"
    lonely.write_bytes(tiny_model_path.read_bytes())
    with pytest.raises(ModelLoadError, match="no model_card.json beside it"):
        load_predictor(lonely)


def test_card_that_disagrees_with_the_model_input_is_refused(tmp_path: Path, save_tiny_model):
    path = save_tiny_model(tmp_path, image_size=[64, 64])
    with pytest.raises(ModelLoadError, match=r"image_size \[64, 64\]"):
        load_predictor(path)


def test_a_model_folder_loads_like_its_keras_file(tiny_model_path: Path, predictor, photo):
    from_folder = load_predictor(tiny_model_path.parent)
    batch = np.stack(
        [
            prepare_image(
                photo("red"), size=predictor.card.image_size, resize_mode="pad", max_pixels=10**6
            )
        ]
    )
    assert from_folder.positive_probabilities(batch) == predictor.positive_probabilities(batch)


def test_files_are_labelled_in_order_and_bad_ones_get_a_reason(tmp_path: Path, predictor, photo):
    files = []
    for index, content in enumerate(
        [photo("red"), b"not a picture", photo("blue"), b"", photo("red", (90, 40))]
    ):
        files.append(tmp_path / f"{index}.jpg")
        files[-1].write_bytes(content)
    files.append(tmp_path / "missing.jpg")

    results = list(predictor.classify_files(files, batch_size=2))

    assert [r.source for r in results] == [str(f) for f in files]
    assert [r.label for r in results] == ["dog", None, "cat", None, "dog", None]
    assert results[1].error.startswith("not_an_image")
    assert results[3].error.startswith("empty")
    assert results[5].error.startswith("unreadable")
    for result in (results[0], results[2], results[4]):
        assert result.error is None
        assert 0.5 <= result.probability <= 1
        dog = result.p_positive
        assert result.probability == pytest.approx(dog if result.label == "dog" else 1 - dog)


def test_batch_size_does_not_change_the_probabilities(tmp_path: Path, predictor, photo):
    files = []
    for index in range(5):
        files.append(tmp_path / f"{index}.png")
        colour = (40 * index, 100, 200 - 40 * index)
        files[-1].write_bytes(photo(colour, (32 + 7 * index, 32), fmt="PNG"))
    one_by_one = [r.p_positive for r in predictor.classify_files(files, batch_size=1)]
    all_at_once = [r.p_positive for r in predictor.classify_files(files, batch_size=5)]
    np.testing.assert_allclose(one_by_one, all_at_once, rtol=0, atol=1e-6)
    assert len(set(one_by_one)) == 5  # distinct photos, distinct answers


def test_prepare_uses_the_cards_size_and_the_tighter_pixel_limit(predictor, photo):
    from catdog_pipeline.images import UnusableImage

    pixels = predictor.prepare(photo("red", (100, 50)))
    assert pixels.shape == (*predictor.card.image_size, 3)
    assert pixels.dtype == np.uint8
    with pytest.raises(UnusableImage) as refused:
        predictor.prepare(photo("red", (100, 50)), max_pixels=4999)
    assert refused.value.reason == "decompression_bomb"


def test_model_card_json_on_disk_is_what_the_predictor_uses(tiny_model_path: Path, predictor):
    card = json.loads((tiny_model_path.parent / "model_card.json").read_text())
    assert list(predictor.card.image_size) == card["image_size"]
    assert predictor.card.positive_class == card["positive_class"]
