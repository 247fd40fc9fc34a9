"""An inference copy of a Keras model with its batch norms folded into the convolutions before them.

In inference a batch norm is a per-channel scale and shift, `(x - mean) / sqrt(var + eps) *
gamma + beta`, and a convolution is linear, so the two are one convolution with a scaled kernel
and a bias. Keras runs the batch norm as two passes over the activations instead; the
EfficientNet-Lite backbone has 49 of them, and folding them roughly halves its time on a CPU
(benchmarks/bench_serving.py). The copy gives the same probabilities up to float rounding
(~1e-6) and is never saved: the `.keras` file stays the model as trained.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

CONVOLUTIONS = (layers.Conv2D, layers.DepthwiseConv2D)


class FoldedAway(layers.Layer):
    """Where a batch norm was: its scale and shift now live in the convolution before it."""

    def call(self, inputs, training=None, mask=None):
        return inputs


def fold_batch_norms(model: keras.Model) -> keras.Model:
    """`model` with every foldable batch norm folded, nested models included; `model` itself
    when none is (a from-scratch net whose batch norms follow pooling, say)."""
    originals = {layer.name: layer for layer in _all_layers(model)}
    folded_into = {  # convolution name -> the batch norm that follows it
        conv.name: norm for norm in originals.values() if (conv := _foldable_source(norm))
    }
    if not folded_into:
        return model

    def clone(layer: layers.Layer) -> layers.Layer:
        if isinstance(layer, layers.BatchNormalization) and _foldable_source(layer):
            return FoldedAway(name=layer.name)
        if layer.name in folded_into:
            return layer.__class__.from_config({**layer.get_config(), "use_bias": True})
        return layer  # shared, weights and all: the copy is for inference only

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    for layer in _all_layers(copy):
        if layer.name in folded_into:
            layer.set_weights(_folded_weights(originals[layer.name], folded_into[layer.name]))
    return copy


def _all_layers(model: keras.Model) -> list[layers.Layer]:
    """The layers of `model` and of the models nested in it."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(_all_layers(layer))
    return found


def _foldable_source(layer: layers.Layer) -> layers.Layer | None:
    """The convolution a channels-last batch norm reads, if the norm is its only reader."""
    if not isinstance(layer, layers.BatchNormalization) or layer.axis not in (-1, 3):
        return None
    # Keras has no public "producer of a tensor": its graph bookkeeping (_inbound_nodes,
    # _keras_history, _outbound_nodes) is what keras.models.clone_model itself walks.
    if len(layer._inbound_nodes) != 1:  # a layer called twice cannot be folded once
        return None
    source = layer._inbound_nodes[0].input_tensors[0]._keras_history.operation
    if not isinstance(source, CONVOLUTIONS) or source.data_format != "channels_last":
        return None
    return source if len(source._outbound_nodes) == 1 else None


def _folded_weights(conv: layers.Layer, norm: layers.BatchNormalization) -> list[np.ndarray]:
    """The kernel and bias of `conv` followed by `norm`, as one convolution."""
    mean = keras.ops.convert_to_numpy(norm.moving_mean)
    variance = keras.ops.convert_to_numpy(norm.moving_variance)
    gamma = keras.ops.convert_to_numpy(norm.gamma) if norm.scale else np.ones_like(mean)
    beta = keras.ops.convert_to_numpy(norm.beta) if norm.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + norm.epsilon)
    kernel = keras.ops.convert_to_numpy(conv.kernel)
    bias = keras.ops.convert_to_numpy(conv.bias) if conv.use_bias else np.zeros_like(mean)
    if isinstance(conv, layers.DepthwiseConv2D):  # kernel (h, w, in, multiplier)
        kernel = kernel * scale.reshape(kernel.shape[-2:])  # output channel in * mult + m
    else:  # kernel (h, w, in, out)
        kernel = kernel * scale
    return [kernel, (bias - mean) * scale + beta]
