"""predict_test_split: scores the test split only, in manifest order, batch by batch."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from catdog_pipeline.images import encode_jpeg
from catdog_pipeline.pipelines.evaluate.nodes import predict_test_split

SIDE = 16
CARD = {"classes": ["cat", "dog"], "positive_class": "dog", "image_size": [SIDE, SIDE]}


def brightness_model() -> keras.Model:
    """uint8 (16, 16, 3) -> sigmoid of the mean pixel, centred: bright images are dogs."""
    inputs = keras.Input((SIDE, SIDE, 3), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.layers[-1].set_weights([np.full((3, 1), 4.0), np.array([-6.0])])
    return model


@pytest.fixture
def split(tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    """5 train, 2 val and 7 test images; test alternates dark cats and bright dogs."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "images"
    rows = []
    for index, split in enumerate(["train"] * 5 + ["val"] * 2 + ["test"] * 7):
        label = ["cat", "dog"][index % 2]
        base = 70 if label == "cat" else 190
        pixels = np.clip(rng.normal(base, 30, (SIDE, SIDE, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{index:02d}" / f"{index}.jpg"
        path.parent.mkdir(parents=True)
        path.write_bytes(encode_jpeg(Image.fromarray(pixels), quality=95))
        rows.append(
            {
                "image_path": f"{index:02d}/{index}.jpg",
                "original_path": f"PetImages/{label}/{index}.jpg",
                "label": label,
                "label_index": index % 2,
                "split": split,
                "group": index,
            }
        )
    return pd.DataFrame(rows), folder


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_only_test_images_are_scored_in_manifest_order(split, batch_size) -> None:
    manifest, folder = split
    model = brightness_model()

    predictions = predict_test_split(
        model, manifest, folder, CARD, {"threshold": 0.5, "batch_size": batch_size}
    )

    test = manifest[manifest["split"] == "test"]
    assert predictions["image_path"].tolist() == test["image_path"].tolist()
    pixels = np.stack([np.asarray(Image.open(folder / path)) for path in test["image_path"]])
    expected = model.predict(pixels, verbose=0)[:, 0]
    np.testing.assert_allclose(predictions["probability"], expected, rtol=1e-6)
    assert (predictions["predicted"] == predictions["label"]).all()
    assert predictions["correct"].all()


def test_a_manifest_without_test_images_is_refused(split) -> None:
    manifest, folder = split
    with pytest.raises(ValueError, match="no `test` images"):
        predict_test_split(
            brightness_model(),
            manifest[manifest["split"] != "test"],
            folder,
            CARD,
            {"threshold": 0.5, "batch_size": 4},
        )


def test_a_missing_test_image_is_named(split) -> None:
    manifest, folder = split
    missing = manifest[manifest["split"] == "test"]["image_path"].iloc[2]
    (folder / missing).unlink()
    with pytest.raises(FileNotFoundError, match=missing):
        predict_test_split(
            brightness_model(), manifest, folder, CARD, {"threshold": 0.5, "batch_size": 4}
        )


def test_labels_outside_the_model_classes_are_refused(split) -> None:
    manifest, folder = split
    manifest.loc[manifest["split"] == "test", "label"] = "ferret"
    with pytest.raises(ValueError, match="ferret"):
        predict_test_split(
            brightness_model(), manifest, folder, CARD, {"threshold": 0.5, "batch_size": 4}
        )
