"""The architectures: uint8 in, one float32 probability out; augmentation only in training."""

from __future__ import annotations

import urllib.error

import keras
import numpy as np
import pytest

from catdog_pipeline.core import backbones
from catdog_pipeline.core.errors import CatdogError
from catdog_pipeline.core.params_schema import ARCHITECTURES, BACKBONES
from catdog_pipeline.datasets import KerasModelDataset
from catdog_pipeline.pipelines.train import models

IMAGES = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_every_architecture_takes_uint8_images_and_gives_one_probability(
    train_params, architecture
) -> None:
    model = models.build_model((32, 32), train_params(architecture=architecture))

    assert model.input.dtype == "uint8"
    assert tuple(model.input.shape) == (None, 32, 32, 3)
    probabilities = model(IMAGES, training=False)
    assert tuple(probabilities.shape) == (4, 1)
    assert probabilities.dtype == "float32"
    assert np.all((probabilities >= 0) & (probabilities <= 1))


def test_bfloat16_computes_the_body_in_bfloat16_but_outputs_float32(train_params) -> None:
    model = models.build_model((32, 32), train_params(mixed_precision="bfloat16"))

    compute_dtypes = {layer.compute_dtype for layer in model.layers if layer.weights}
    assert "bfloat16" in compute_dtypes
    assert model.get_layer("probability").compute_dtype == "float32"
    assert model(IMAGES).dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_the_schemas_choices_are_the_ones_built_here() -> None:
    assert set(ARCHITECTURES) == set(models._BODIES)
    assert set(BACKBONES) == {*backbones.PACKAGED_WEIGHTS, *backbones.KERAS_BACKBONES}


def test_augmentation_changes_images_only_in_training(train_params) -> None:
    augmentation = {
        "horizontal_flip": True,
        "rotation": 0.2,
        "zoom": 0.2,
        "contrast": 0.2,
        "translation": 0.1,
    }
    model = models.build_model((32, 32), train_params(augmentation=augmentation))

    inference = [model(IMAGES, training=False).numpy() for _ in range(2)]
    training = [model(IMAGES, training=True).numpy() for _ in range(2)]

    np.testing.assert_array_equal(inference[0], inference[1])
    assert not np.allclose(training[0], training[1])


def test_all_augmentation_off_builds_a_model_without_random_layers(train_params) -> None:
    off = {"horizontal_flip": False, "rotation": 0, "zoom": 0, "contrast": 0, "translation": 0}
    model = models.build_model((32, 32), train_params(augmentation=off))

    assert not [layer for layer in model.layers if layer.name.startswith("random_")]
    assert model(IMAGES, training=False).shape == (len(IMAGES), 1)


def test_input_resize_downscales_inside_the_model(train_params) -> None:
    model = models.build_model((32, 32), train_params(input_resize=[16, 24]))

    assert tuple(model.get_layer("downscale").output.shape) == (None, 16, 24, 3)
    assert tuple(model.input.shape) == (None, 32, 32, 3)


def test_transfer_with_a_missing_weights_file_says_what_to_do(train_params, tmp_path) -> None:
    missing = tmp_path / "mobilenet_v3_small_notop.h5"
    transfer = {**train_params()["transfer"], "weights": str(missing), "freeze_backbone": True}

    with pytest.raises(FileNotFoundError, match=f"'{missing}' does not exist.*null"):
        models.build_model((32, 32), train_params(architecture="transfer", transfer=transfer))


def test_transfer_without_network_explains_how_to_give_the_weights(
    train_params, monkeypatch
) -> None:
    def offline(**kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setitem(backbones.KERAS_BACKBONES, "MobileNetV3Small", offline)
    transfer = {**train_params()["transfer"], "weights": "imagenet", "freeze_backbone": True}

    with pytest.raises(CatdogError, match="ImageNet weights of MobileNetV3Small.*weights: package"):
        models.build_model((32, 32), train_params(architecture="transfer", transfer=transfer))


def test_a_frozen_random_backbone_is_refused(train_params) -> None:
    transfer = {**train_params()["transfer"], "weights": None, "freeze_backbone": True}

    with pytest.raises(ValueError, match="freeze_backbone"):
        models.build_model((32, 32), train_params(architecture="transfer", transfer=transfer))


@pytest.mark.parametrize("architecture", ["simple_cnn", "xception_mini"])
def test_a_saved_model_loads_in_safe_mode_and_predicts_the_same(
    train_params, tmp_path, architecture
) -> None:
    model = models.build_model((32, 32), train_params(architecture=architecture))
    dataset = KerasModelDataset(filepath=str(tmp_path / "models" / "model.keras"))

    dataset.save(model)
    loaded = dataset.load()

    assert [path.name for path in (tmp_path / "models").iterdir()] == ["model.keras"]
    np.testing.assert_allclose(loaded.predict(IMAGES, verbose=0), model.predict(IMAGES, verbose=0))
