"""Fit a pretrained model on 2 CPU cores: the head on frozen features, then the top blocks.

A frozen backbone gives every image the same features in every epoch, so they are computed
once (for each image and, with `augmentation.horizontal_flip`, its mirror image) and the head
is trained on them for as many epochs as early stopping allows, at a tiny fraction of the cost
of running the backbone each epoch. Optional fine-tuning then unfreezes the backbone's last
`fine_tune_blocks` blocks and trains the whole model on images, at a lower learning rate, with
the model's augmentation layers. The result is the same single model that takes raw images.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.features import extract_features

from . import fitting

if TYPE_CHECKING:
    from .distribution import Distribution

logger = logging.getLogger(__name__)

HEAD_LAYER = "probability"
FEATURES_LAYER = "head_dropout"  # its input: the backbone's pooled features


def backbone_of(model: keras.Model) -> keras.Model:
    """The nested backbone model of a `transfer` model."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise InputError(f"Expected one nested backbone in '{model.name}', found {len(nested)}.")
    return nested[0]


def feature_extractor(model: keras.Model) -> keras.Model:
    """uint8 images -> the backbone's pooled features, with no augmentation (inference mode)."""
    return keras.Model(model.inputs, model.get_layer(FEATURES_LAYER).input)


def fit_head(
    model: keras.Model,
    train_images: tf.data.Dataset,
    train_labels: np.ndarray,
    val_images: tf.data.Dataset,
    val_labels: np.ndarray,
    params: Mapping[str, Any],
    cache: Callable[[str, Callable[[], np.ndarray]], np.ndarray],
    class_weight: Mapping[int, float] | None,
    distribution: Distribution,
) -> dict[str, list[float]]:
    """Train the output layer on frozen features; copy it into `model`. Keras history.

    `cache(name, compute)` returns features an earlier attempt kept, or computes and keeps them.
    With a strategy, the images are this worker's shards and the head trains under it.
    """
    extractor = feature_extractor(model)

    def features(images: tf.data.Dataset, mirrored: bool, name: str) -> np.ndarray:
        compute = functools.partial(
            extract_features, extractor, images, mirrored=mirrored, description=name
        )
        return cache(f"{name}{'-mirrored' if mirrored else ''}", compute)

    views = [False, True] if params["augmentation"]["horizontal_flip"] else [False]
    train_x = np.concatenate([features(train_images, mirrored, "train") for mirrored in views])
    train_y = np.concatenate([train_labels] * len(views))
    val_x = features(val_images, False, "val")

    with distribution.scope():
        head = keras.Sequential(
            [
                keras.Input(shape=train_x.shape[1:]),
                keras.layers.Dropout(params["transfer"]["dropout"]),
                keras.layers.Dense(1, activation="sigmoid", name=HEAD_LAYER),
            ]
        )
        fitting.compile_model(head, params, distribution.steps_per_epoch(len(train_y)))
    fitted = head.fit(
        **distribution.array_input(
            (train_x, train_y),
            (val_x, val_labels),
            shuffle_seed=params["seed"],
            class_weight=class_weight,
        ),
        epochs=params["epochs"],
        callbacks=fitting.callbacks(params),
        verbose=2,
    )
    model.get_layer(HEAD_LAYER).set_weights(head.get_layer(HEAD_LAYER).get_weights())
    return fitted.history


def unfreeze_top_blocks(model: keras.Model, blocks: int) -> int:
    """Make the backbone's last `blocks` blocks and its head convolution trainable.

    Batch-norm layers stay frozen (the backbone runs in inference mode). Returns how many
    layers became trainable.
    """
    backbone = backbone_of(model)
    block_names = sorted(
        {layer.name.split("_")[0] for layer in backbone.layers if layer.name.startswith("block")},
        key=lambda name: int(name.removeprefix("block")),
    )
    if not block_names:
        raise InputError(
            f"train.transfer.fine_tune_blocks needs a backbone made of numbered blocks "
            f"(EfficientNetLite0); '{backbone.name}' has none. Set fine_tune_blocks: 0."
        )
    chosen = {*block_names[-blocks:], "head"}
    backbone.trainable = True
    count = 0
    for layer in backbone.layers:
        layer.trainable = layer.name.split("_")[0] in chosen and not isinstance(
            layer, keras.layers.BatchNormalization
        )
        count += bool(layer.trainable and layer.weights)
    return count


def fine_tune(
    model: keras.Model,
    train_images: Any,
    val_images: Any,
    class_weight: Mapping[int, float] | None,
    steps_per_epoch: int,
    params: Mapping[str, Any],
    epochs_done: int,
    checkpoint: Path,
    distribution: Distribution,
) -> dict[str, list[float]]:
    """Train the top blocks and the head on images at `fine_tune_learning_rate`; resumable.

    The images are `fit` data (`Distribution.image_input`). Returns the history of every
    fine-tuning epoch, those of an interrupted attempt included.
    """
    from . import checkpoints

    transfer = params["transfer"]
    layers = unfreeze_top_blocks(model, transfer["fine_tune_blocks"])
    logger.info(
        "Fine-tuning %d layer(s) of the last %d block(s) for %d epoch(s)",
        layers,
        transfer["fine_tune_blocks"],
        transfer["fine_tune_epochs"],
    )
    tuning = {
        **params,
        "learning_rate": transfer["fine_tune_learning_rate"],
        "epochs": transfer["fine_tune_epochs"],
        "warmup_epochs": 0,
    }
    with distribution.scope():
        fitting.compile_model(model, tuning, steps_per_epoch)
    model.fit(
        train_images,
        validation_data=val_images,
        epochs=transfer["fine_tune_epochs"],
        shuffle=False,
        class_weight=class_weight,
        callbacks=fitting.callbacks(
            tuning,
            epoch_offset=epochs_done,
            checkpoint_callbacks=checkpoints.resumable(checkpoint / "fine_tune"),
        ),
        verbose=2,
    )
    return checkpoints.recorded_history(checkpoint / "fine_tune")
