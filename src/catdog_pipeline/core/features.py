"""Frozen pretrained features: what the train stage fits its head on and the audit scores labels
with, computed one way (the backbone in inference mode, batch by batch, with a progress bar).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from catdog_pipeline.core import backbones


def pretrained_feature_extractor(
    image_size: Sequence[int], backbone: str, weights: str | None
) -> keras.Model:
    """uint8 RGB images of `image_size` (height, width) -> the backbone's pooled features."""
    height, width = (int(side) for side in image_size)
    inputs = keras.Input(shape=(height, width, 3), dtype="uint8", name="image")
    # The backbones take floats in [0, 255] and normalise them themselves.
    pixels = keras.layers.Rescaling(1.0, dtype="float32", name="to_float")(inputs)
    network = backbones.load_backbone(backbone, (height, width, 3), weights)
    return keras.Model(inputs, network(pixels, training=False), name=f"{network.name}_features")


def extract_features(
    extractor: keras.Model, images: tf.data.Dataset, *, mirrored: bool, description: str
) -> np.ndarray:
    """Features of each (image, label) batch's images, or of their mirror images; with progress."""
    run = tf.function(lambda batch: extractor(batch, training=False))
    chunks = []
    for batch, _ in tqdm(images, desc=description, unit="batch", leave=False):
        chunks.append(run(tf.image.flip_left_right(batch) if mirrored else batch).numpy())
    return np.concatenate(chunks).astype(np.float32)
