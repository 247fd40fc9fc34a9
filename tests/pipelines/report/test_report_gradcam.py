"""Grad-CAM: shape and range, the layer it picks, and that it points at what drives the model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from catdog_pipeline.pipelines.report.gradcam import (
    find_feature_layer,
    find_last_conv_layer,
    gradcam_heatmaps,
    overlay,
)

SIDE = 32
SQUARE = 8


def _images(count: int, rng: np.random.Generator, *, square_at: tuple[int, int] | None):
    """Dim noise; with `square_at` (row, col) a bright square whose top-left corner is there."""
    images = rng.integers(0, 60, (count, SIDE, SIDE, 3), dtype=np.uint8)
    if square_at is not None:
        row, col = square_at
        images[:, row : row + SQUARE, col : col + SQUARE] = 255
    return images


def _quadrant_training_set(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positives: a bright square somewhere inside the top-left quadrant. Negatives: none."""
    positives = np.concatenate(
        [
            _images(1, rng, square_at=tuple(rng.integers(0, SIDE // 2 - SQUARE + 1, 2)))
            for _ in range(64)
        ]
    )
    negatives = _images(64, rng, square_at=None)
    labels = np.array([1.0] * 64 + [0.0] * 64, dtype=np.float32)
    return np.concatenate([positives, negatives]), labels


def _nested_model(*, freeze_backbone: bool = False) -> keras.Model:
    """uint8 in, rescaling and augmentation inside, convolutions in a nested 'backbone'."""
    features_in = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(features_in)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="last_conv")(x)
    backbone = keras.Model(features_in, x, name="backbone")
    backbone.trainable = not freeze_backbone

    inputs = keras.Input((SIDE, SIDE, 3), dtype="uint8")
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.Sequential([keras.layers.RandomFlip("horizontal")], name="augmentation")(x)
    x = backbone(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs, name="toy")


@pytest.fixture(scope="module")
def square_detector() -> keras.Model:
    """A toy model trained for a few steps to find a bright square in the top-left quadrant."""
    keras.utils.set_random_seed(0)
    images, labels = _quadrant_training_set(np.random.default_rng(0))
    model = _nested_model()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="binary_crossentropy")
    model.fit(images, labels, epochs=15, batch_size=32, verbose=0)
    return model


def test_finds_the_last_convolution_inside_a_nested_model():
    assert find_last_conv_layer(_nested_model()).name == "last_conv"
    assert find_feature_layer(_nested_model()).name == "last_conv"


def test_weighs_the_activated_map_after_a_batch_normalised_convolution():
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    assert find_last_conv_layer(model).name == "conv"
    assert find_feature_layer(model).name == "relu"


def test_a_model_without_convolutions_is_refused_by_name():
    inputs = keras.Input((4, 4, 3))
    dense_only = keras.Model(inputs, keras.layers.Dense(1)(inputs), name="dense_only")
    with pytest.raises(ValueError, match="dense_only"):
        find_last_conv_layer(dense_only)


def test_heatmaps_have_the_image_shape_and_lie_in_0_1():
    images = _images(3, np.random.default_rng(1), square_at=(2, 2))
    heatmaps = gradcam_heatmaps(_nested_model(), images, [1, 0, 1])
    assert heatmaps.shape == (3, SIDE, SIDE)
    assert heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0


def test_frozen_backbone_still_gets_gradients():
    images = _images(2, np.random.default_rng(2), square_at=(4, 4))
    heatmaps = gradcam_heatmaps(_nested_model(freeze_backbone=True), images, [1, 1])
    assert np.isfinite(heatmaps).all()
    assert heatmaps.max() > 0.0


def _quadrant_shares(heatmap: np.ndarray) -> dict[str, float]:
    half = SIDE // 2
    total = heatmap.sum()
    return {
        "top_left": heatmap[:half, :half].sum() / total,
        "bottom_right": heatmap[half:, half:].sum() / total,
    }


def test_a_saturated_probability_still_gives_a_heatmap():
    # P(dog) rounds to exactly 1.0 in float32, so its gradient is 0: the logit's is not.
    model = _nested_model()
    output = model.layers[-1]
    output.set_weights([np.ones_like(output.get_weights()[0]), np.array([60.0], np.float32)])
    image = _images(1, np.random.default_rng(6), square_at=(4, 4))
    assert float(model.predict(image, verbose=0)[0, 0]) == 1.0
    assert gradcam_heatmaps(model, image, [1]).max() > 0.0


def test_heatmap_mass_lies_in_the_quadrant_that_drives_the_model(square_detector):
    rng = np.random.default_rng(3)
    positives = np.concatenate(
        [_images(1, rng, square_at=(3, 5)), _images(1, rng, square_at=(6, 2))]
    )
    assert (square_detector.predict(positives, verbose=0) > 0.5).all(), "toy model did not learn"
    for heatmap in gradcam_heatmaps(square_detector, positives, [1, 1]):
        assert _quadrant_shares(heatmap)["top_left"] > 0.8


def test_heatmap_follows_the_evidence_when_it_moves(square_detector):
    # Not a bias towards the training quadrant: a square elsewhere pulls the heatmap with it.
    moved = _images(1, np.random.default_rng(5), square_at=(SIDE - SQUARE - 3, SIDE - SQUARE - 2))
    heatmap = gradcam_heatmaps(square_detector, moved, [1])[0]
    assert _quadrant_shares(heatmap)["bottom_right"] > 0.8


def test_augmentation_inside_the_model_is_off(square_detector):
    image = _images(1, np.random.default_rng(4), square_at=(4, 4))
    first = gradcam_heatmaps(square_detector, image, [1])
    again = [gradcam_heatmaps(square_detector, image, [1]) for _ in range(3)]
    for heatmap in again:
        np.testing.assert_allclose(heatmap, first, atol=1e-6)


def test_overlay_is_an_rgb_picture_of_the_image_size():
    image = np.full((SIDE, SIDE, 3), 128, np.uint8)
    heatmap = np.linspace(0, 1, SIDE * SIDE, dtype=np.float32).reshape(SIDE, SIDE)
    blended = overlay(image, heatmap, opacity=0.5)
    assert blended.shape == image.shape and blended.dtype == np.uint8
    assert not np.array_equal(blended[0, 0], blended[-1, -1])
