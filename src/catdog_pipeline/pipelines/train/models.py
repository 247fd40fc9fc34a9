"""The networks `train.architecture` chooses from, each wrapped to take raw uint8 RGB images.

Every model built here is `uint8 image (height, width, 3) -> float32 P(class index 1)`:
the cast, optional downscale, augmentation (active only with `training=True`) and rescaling are
layers inside the model, so a saved model needs nothing but the decoded image.
Only built-in Keras layers are used, so the saved `.keras` file loads with `safe_mode=True`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras
from keras import layers

from catdog_pipeline.core import backbones
from catdog_pipeline.core.errors import InputError

MIXED_PRECISION = {None: "float32", "bfloat16": "mixed_bfloat16"}
# Keras' default (0.99) needs hundreds of steps before the inference-time statistics are
# usable: a small dataset (the mini archive's 15 steps per epoch) would then validate as chance.
BN_MOMENTUM = 0.9


def build_model(image_size: Sequence[int], train_params: Mapping[str, Any]) -> keras.Model:
    """Build the `train.architecture` network for uint8 images of `image_size` (height, width)."""
    architecture, precision = train_params["architecture"], train_params["mixed_precision"]
    height, width = (int(side) for side in image_size)
    # Pretrained backbones normalise [0, 255] themselves; the others learn on [0, 1].
    scale = 1.0 if architecture == "transfer" else 1.0 / 255
    value_range = (0.0, 255.0 * scale)

    inputs = keras.Input(shape=(height, width, 3), dtype="uint8", name="image")
    # Input handling stays float32 under mixed precision: it is cheap and the ops are exact.
    x = layers.Rescaling(scale, dtype="float32", name="to_float")(inputs)
    if train_params["input_resize"]:
        resized = [int(side) for side in train_params["input_resize"]]
        x = layers.Resizing(*resized, antialias=True, dtype="float32", name="downscale")(x)
    for layer in augmentation_layers(train_params["augmentation"], value_range):
        x = layer(x)
    with _dtype_policy(MIXED_PRECISION[precision]):
        features = _BODIES[architecture](x, train_params[architecture])
    # The output stays float32 whatever the body computes in: probabilities near 0 or 1 and
    # the loss need the precision.
    outputs = layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(features)
    return keras.Model(inputs, outputs, name="catdog")


def augmentation_layers(
    params: Mapping[str, Any], value_range: tuple[float, float]
) -> list[layers.Layer]:
    """Random flip/rotation/zoom/contrast/translation layers; identity unless `training=True`.

    They live in the model rather than in the tf.data map because random ops in a map run
    serially once op determinism is on, while in the model they are ordinary batched ops.
    """
    steps: list[layers.Layer] = []
    if params["horizontal_flip"]:
        steps.append(layers.RandomFlip("horizontal", dtype="float32"))
    if params["rotation"]:
        steps.append(layers.RandomRotation(params["rotation"], dtype="float32"))
    if params["zoom"]:
        steps.append(layers.RandomZoom(params["zoom"], dtype="float32"))
    if params["translation"]:
        factor = params["translation"]
        steps.append(layers.RandomTranslation(factor, factor, dtype="float32"))
    if params["contrast"]:
        steps.append(
            layers.RandomContrast(params["contrast"], value_range=value_range, dtype="float32")
        )
    return steps


def _simple_cnn(x: keras.KerasTensor, params: Mapping[str, Any]) -> keras.KerasTensor:
    """Conv-BN-ReLU + max-pool blocks, one per `filters` entry, then a dense head."""
    for filters in params["filters"]:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(params["dropout"])(x)
    if params["dense_units"]:
        x = layers.Dense(params["dense_units"], activation="relu")(x)
        x = layers.Dropout(params["dropout"])(x)
    return x


def _xception_mini(x: keras.KerasTensor, params: Mapping[str, Any]) -> keras.KerasTensor:
    """A small Xception: strided entry conv, residual separable-conv blocks, wide exit conv.

    The shape of Keras's "image classification from scratch" example, with widths from params.
    """
    x = layers.Conv2D(params["entry_filters"], 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    x = layers.Activation("relu")(x)
    shortcut = x
    for filters in params["block_filters"]:
        for _ in range(2):
            x = layers.Activation("relu")(x)
            x = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        projected = layers.Conv2D(filters, 1, strides=2, padding="same")(shortcut)
        x = layers.add([x, projected])
        shortcut = x
    x = layers.SeparableConv2D(params["exit_filters"], 3, padding="same")(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return layers.Dropout(params["dropout"])(x)


def _transfer(x: keras.KerasTensor, params: Mapping[str, Any]) -> keras.KerasTensor:
    """A pretrained backbone (pooled features, frozen or not) + dropout."""
    if params["weights"] is None and params["freeze_backbone"]:
        raise InputError(
            "train.transfer.freeze_backbone is true but train.transfer.weights is null: a frozen "
            "random backbone learns nothing. Give pretrained weights or set freeze_backbone: false."
        )
    backbone = backbones.load_backbone(params["backbone"], tuple(x.shape[1:]), params["weights"])
    backbone.trainable = not params["freeze_backbone"]
    # training=False keeps a frozen backbone's batch-norm statistics fixed while the head learns
    # (and while its top blocks are fine-tuned), as Keras' transfer-learning guide advises.
    x = backbone(x, training=False) if params["freeze_backbone"] else backbone(x)
    return layers.Dropout(params["dropout"], name="head_dropout")(x)


@contextlib.contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy `name`, then restore the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


_BODIES: dict[str, Callable[[keras.KerasTensor, Mapping[str, Any]], keras.KerasTensor]] = {
    "simple_cnn": _simple_cnn,
    "xception_mini": _xception_mini,
    "transfer": _transfer,
}
