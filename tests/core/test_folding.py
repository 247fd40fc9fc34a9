"""Folded batch norms: the inference copy answers as the model does, and folds only what it may."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from catdog_pipeline.core.backbones import load_backbone
from catdog_pipeline.core.folding import FoldedAway, fold_batch_norms


def with_random_statistics(model: keras.Model, seed: int = 0) -> keras.Model:
    """Batch norms with gamma, beta, mean and variance far from their initial values."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.set_weights(
                [
                    rng.uniform(0.5, 2.0, w.shape) if i in (0, 3) else rng.normal(0, 0.5, w.shape)
                    for i, w in enumerate(layer.get_weights())
                ]
            )
    return model


def small_model() -> keras.Model:
    """Every case: conv without and with bias, a depthwise conv with multiplier 2, a norm after
    pooling, a conv read by two layers, and a nested model."""
    inner_input = keras.Input((8, 8, 6))
    inner = layers.Conv2D(4, 1, use_bias=False, name="inner_conv")(inner_input)
    inner = layers.BatchNormalization(name="inner_bn")(inner)
    nested = with_random_statistics(keras.Model(inner_input, inner, name="nested"), seed=1)

    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(6, 3, padding="same", use_bias=False, name="plain_conv")(inputs)
    x = layers.BatchNormalization(name="plain_bn")(x)
    x = layers.ReLU(6.0)(x)
    x = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="depthwise")(x)
    x = layers.BatchNormalization(name="depthwise_bn")(x)
    x = layers.Conv2D(6, 1, name="biased_conv")(x)
    x = layers.BatchNormalization(name="biased_bn")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.BatchNormalization(name="after_pooling_bn")(x)
    shared = layers.Conv2D(6, 1, name="read_twice")(x)
    x = layers.Add()([layers.BatchNormalization(name="one_reader_bn")(shared), shared])
    x = nested(x)
    outputs = layers.Dense(1, activation="sigmoid")(layers.GlobalAveragePooling2D()(x))
    return with_random_statistics(keras.Model(inputs, outputs))


def folded_names(model: keras.Model) -> set[str]:
    names = set()
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            names |= folded_names(layer)
        elif isinstance(layer, FoldedAway):
            names.add(layer.name)
    return names


def test_the_folded_copy_answers_as_the_model_and_leaves_the_model_alone() -> None:
    model = small_model()
    images = np.random.default_rng(2).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    before = [w.copy() for w in model.get_weights()]
    expected = model(images, training=False).numpy()

    folded = fold_batch_norms(model)

    np.testing.assert_allclose(folded(images, training=False).numpy(), expected, atol=1e-5)
    assert folded_names(folded) == {"plain_bn", "depthwise_bn", "biased_bn", "inner_bn"}
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    np.testing.assert_array_equal(model(images, training=False).numpy(), expected)


def test_a_model_with_nothing_to_fold_is_returned_as_it_is() -> None:
    inputs = keras.Input((8, 8, 3))
    x = layers.BatchNormalization()(layers.MaxPooling2D()(inputs))
    model = keras.Model(inputs, layers.Dense(1)(layers.Flatten()(x)))
    assert fold_batch_norms(model) is model


def test_the_pretrained_backbone_folds_every_batch_norm_and_keeps_its_features() -> None:
    backbone = load_backbone("EfficientNetLite0", (64, 64, 3), "package")
    images = np.random.default_rng(3).integers(0, 256, (2, 64, 64, 3)).astype("float32")
    norms = [layer for layer in backbone.layers if isinstance(layer, layers.BatchNormalization)]

    folded = fold_batch_norms(backbone)

    assert len(folded_names(folded)) == len(norms) == 49
    np.testing.assert_allclose(
        folded(images, training=False).numpy(),
        backbone(images, training=False).numpy(),
        rtol=1e-4,
        atol=1e-4,
    )
