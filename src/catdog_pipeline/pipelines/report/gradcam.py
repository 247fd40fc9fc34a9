"""Grad-CAM: which parts of an image drove the model's answer (Selvaraju et al., 2017).

Works on any Keras 3 model of this project: the last convolution (and the activated feature map
after it) is found even inside a nested sub-model such as a transfer backbone, and the model runs
in inference mode, so augmentation layers inside it are the identity. TensorFlow is imported
here, never by pipeline.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from unittest import mock

import keras
import numpy as np
import tensorflow as tf
from matplotlib import colormaps

from catdog_pipeline.core.errors import InputError

CONV_LAYERS = (keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D)
# Pooling keeps a 4-D shape but is a coarser view, not the convolution's own feature map.
POOLING_LAYERS = (
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalAveragePooling2D,
)


def _all_layers(model: keras.Model) -> Iterator[keras.layers.Layer]:
    """Every layer in forward order, descending into nested models (Functional, Sequential)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def find_last_conv_layer(model: keras.Model) -> keras.layers.Layer:
    """The model's last 2-D convolution, wherever it is nested."""
    convolutions = [layer for layer in _all_layers(model) if isinstance(layer, CONV_LAYERS)]
    if not convolutions:
        raise InputError(
            f"Grad-CAM needs a convolutional model, but '{model.name}' has no Conv2D, "
            "SeparableConv2D or DepthwiseConv2D layer (nested models included)."
        )
    return convolutions[-1]


def find_feature_layer(model: keras.Model) -> keras.layers.Layer:
    """The layer whose output Grad-CAM weighs: the last convolution's activated feature map.

    That is the last convolution itself, or the last of the batch-norm, activation or
    residual-add layers after it that still output a (batch, h, w, channels) map. A convolution
    followed by batch norm outputs raw, signed values; weighting them gives maps that the ReLU
    wipes out, where the activated map (as in the Grad-CAM paper) keeps the evidence.
    """
    last_conv = find_last_conv_layer(model)
    layers = list(_all_layers(model))
    after_conv = layers[layers.index(last_conv) :]
    feature_maps = [
        layer
        for layer in after_conv
        if not isinstance(layer, (keras.Model, *POOLING_LAYERS)) and _output_rank(layer) == 4
    ]
    return feature_maps[-1]


def _output_rank(layer: keras.layers.Layer) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):  # shared (several outputs) or never called in a graph
        return None


def gradcam_heatmaps(
    model: keras.Model, images: np.ndarray, target_classes: Sequence[int]
) -> np.ndarray:
    """Heatmaps in [0, 1] of shape (n, height, width) for uint8 `images` (n, height, width, 3).

    `target_classes[i]` (0 or 1) is the class whose evidence image i's heatmap shows: the score
    is the output for class 1 and its negation for class 0. Where the output layer is a sigmoid
    Dense, the score is its logit: the probability saturates at 0 or 1 and its gradient with it.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InputError(f"Grad-CAM takes images shaped (n, height, width, 3), got {images.shape}")
    signs = np.where(np.asarray(target_classes) == 1, 1.0, -1.0).astype(np.float32)
    if signs.shape != (len(images),):
        raise InputError(f"{len(images)} images but {len(signs)} target classes")

    activations, gradients = _activations_and_gradients(model, images, signs)
    activations = tf.cast(activations, tf.float32)
    gradients = tf.cast(gradients, tf.float32)
    # Each channel's weight is its mean gradient; the map is the ReLU of the weighted sum.
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    maps = tf.nn.relu(tf.reduce_sum(activations * weights, axis=-1))[..., tf.newaxis]
    maps = tf.image.resize(maps, images.shape[1:3], method="bilinear")[..., 0].numpy()
    peaks = maps.max(axis=(1, 2), keepdims=True)
    # A map with no positive evidence stays all zero rather than dividing by zero.
    return np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0).clip(0.0, 1.0)


def _activations_and_gradients(
    model: keras.Model, images: np.ndarray, signs: np.ndarray
) -> tuple[tf.Tensor, tf.Tensor]:
    """The feature layer's output and the gradient of the signed scores with respect to it.

    A model of the activations cannot be cut out of a nested sub-model in Keras 3, so the
    layer's `call` is wrapped for one forward pass instead; the tape watches the activations
    explicitly because a frozen backbone has no trainable variables to trigger recording.
    """
    layer = find_feature_layer(model)
    captured: list[tf.Tensor] = []
    original_call = layer.call

    def recording_call(*args, **kwargs):
        outputs = original_call(*args, **kwargs)
        tape.watch(outputs)
        captured.append(outputs)
        return outputs

    with tf.GradientTape() as tape:
        with mock.patch.object(layer, "call", recording_call), _logit_output(model):
            outputs = model(tf.convert_to_tensor(images), training=False)
        scores = tf.cast(tf.reshape(outputs, [-1]), tf.float32) * signs
    if not captured:
        raise RuntimeError(f"Layer '{layer.name}' did not run in the forward pass of the model")
    return captured[-1], tape.gradient(scores, captured[-1])


def _logit_output(model: keras.Model) -> contextlib.AbstractContextManager:
    """Make a sigmoid Dense output layer return its logit for the duration of the context."""
    output_layer = model.layers[-1]
    if getattr(output_layer, "activation", None) is keras.activations.sigmoid:
        return mock.patch.object(output_layer, "activation", keras.activations.linear)
    return contextlib.nullcontext()


def overlay(image: np.ndarray, heatmap: np.ndarray, opacity: float = 0.45) -> np.ndarray:
    """An RGB uint8 picture of `heatmap` (jet colours) blended over `image`."""
    colours = colormaps["jet"](heatmap)[..., :3] * 255.0
    blended = (1.0 - opacity) * image.astype(np.float32) + opacity * colours
    return blended.clip(0, 255).astype(np.uint8)
