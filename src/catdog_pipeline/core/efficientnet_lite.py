"""EfficientNet-Lite built from built-in Keras layers, with ImageNet weights from a PyTorch dump.

EfficientNet-Lite is EfficientNet without squeeze-and-excitation, with ReLU6, and with the stem
and head kept at 32 and 1280 channels (Google's TensorFlow EfficientNet-Lite checkpoints). The
network is derived from the state dict itself (channels, kernel sizes, expansion, block count),
so every Lite variant with the common PyTorch port's tensor names builds from its own file; only
the stride of each stage comes from EfficientNet's block table. Inputs are uint8-range floats,
scaled inside the network as (x - 127) / 128, as the checkpoints were trained.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from catdog_pipeline.core.errors import InputError

# EfficientNet-B0's stages: the first block of stage i has STAGE_STRIDES[i], the others stride 1.
STAGE_STRIDES = (1, 2, 2, 2, 1, 2, 1)
BN_EPSILON = 1e-3
FEATURES_LAYER = "features"  # the pooled 1280-d output of the backbone
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class BlockSpec:
    """One inverted-residual block: channels in/out, expansion, depthwise kernel and stride."""

    index: int
    channels_in: int
    channels_out: int
    expanded: int | None  # channels after the 1x1 expansion; None: no expansion
    kernel: int
    stride: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.channels_in == self.channels_out


def block_specs(state_dict: Mapping[str, np.ndarray]) -> list[BlockSpec]:
    """The blocks the state dict describes, in order, with each stage's stride."""
    count = 1 + max(int(m[1]) for key in state_dict if (m := re.match(r"_blocks\.(\d+)\.", key)))
    specs: list[BlockSpec] = []
    stage = -1
    for index in range(count):
        prefix = f"_blocks.{index}."
        depthwise = state_dict[prefix + "_depthwise_conv.weight"]
        expand = state_dict.get(prefix + "_expand_conv.weight")
        channels_out = int(state_dict[prefix + "_project_conv.weight"].shape[0])
        channels_in = int(expand.shape[1]) if expand is not None else int(depthwise.shape[0])
        starts_stage = not specs or channels_out != specs[-1].channels_out
        stage += starts_stage
        if stage >= len(STAGE_STRIDES):
            raise InputError(f"The weights describe more than {len(STAGE_STRIDES)} stages.")
        specs.append(
            BlockSpec(
                index=index,
                channels_in=channels_in,
                channels_out=channels_out,
                expanded=int(expand.shape[0]) if expand is not None else None,
                kernel=int(depthwise.shape[-1]),
                stride=STAGE_STRIDES[stage] if starts_stage else 1,
            )
        )
    return specs


def build_backbone(
    state_dict: Mapping[str, np.ndarray],
    input_shape: tuple[int, int, int],
    *,
    imagenet_head: bool = False,
    name: str = "efficientnet_lite",
) -> keras.Model:
    """The Lite network with `state_dict`'s weights: images -> 1280-d features (or ImageNet).

    Batch-norm layers of the returned model keep their ImageNet statistics when it is called
    with `training=False`, as a frozen or partly fine-tuned backbone must.
    """
    inputs = keras.Input(shape=input_shape, name=f"{name}_input")
    x = layers.Rescaling(1 / 128, offset=-127 / 128, name="lite_rescale")(inputs)
    x = _conv_bn(x, "stem", int(state_dict["_conv_stem.weight"].shape[0]), 3, 2)
    for spec in block_specs(state_dict):
        x = _block(x, spec)
    x = _conv_bn(x, "head", int(state_dict["_conv_head.weight"].shape[0]), 1, 1)
    x = layers.GlobalAveragePooling2D(name=FEATURES_LAYER)(x)
    if imagenet_head:
        x = layers.Dense(IMAGENET_CLASSES, activation="softmax", name="imagenet_logits")(x)
    model = keras.Model(inputs, x, name=name)
    load_weights(model, state_dict)
    return model


def _conv_bn(x, name: str, filters: int, kernel: int, stride: int, activate: bool = True):
    x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu6")(x) if activate else x


def _block(x, spec: BlockSpec):
    name = f"block{spec.index}"
    shortcut = x
    if spec.expanded is not None:
        x = _conv_bn(x, f"{name}_expand", spec.expanded, 1, 1)
    x = layers.DepthwiseConv2D(
        spec.kernel, spec.stride, padding="same", use_bias=False, name=f"{name}_depthwise"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_depthwise_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_depthwise_relu6")(x)
    x = _conv_bn(x, f"{name}_project", spec.channels_out, 1, 1, activate=False)
    return layers.Add(name=f"{name}_add")([x, shortcut]) if spec.residual else x


def keras_weights(state_dict: Mapping[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The state dict's tensors as Keras layer name -> weights, in Keras' layouts."""
    weights: dict[str, list[np.ndarray]] = {}

    def conv(layer: str, key: str, depthwise: bool = False) -> None:
        kernel = state_dict[f"{key}.weight"]  # torch: (out, in, kh, kw)
        # Keras: (kh, kw, in, out), or (kh, kw, channels, 1) for a depthwise kernel
        weights[layer] = [kernel.transpose((2, 3, 0, 1) if depthwise else (2, 3, 1, 0))]

    def batch_norm(layer: str, key: str) -> None:
        parts = ("weight", "bias", "running_mean", "running_var")
        weights[layer] = [state_dict[f"{key}.{part}"] for part in parts]

    conv("stem", "_conv_stem")
    batch_norm("stem_bn", "_bn0")
    for spec in block_specs(state_dict):
        key, name = f"_blocks.{spec.index}", f"block{spec.index}"
        if spec.expanded is not None:
            conv(f"{name}_expand", f"{key}._expand_conv")
            batch_norm(f"{name}_expand_bn", f"{key}._bn0")
        conv(f"{name}_depthwise", f"{key}._depthwise_conv", depthwise=True)
        batch_norm(f"{name}_depthwise_bn", f"{key}._bn1")
        conv(f"{name}_project", f"{key}._project_conv")
        batch_norm(f"{name}_project_bn", f"{key}._bn2")
    conv("head", "_conv_head")
    batch_norm("head_bn", "_bn1")
    weights["imagenet_logits"] = [state_dict["_fc.weight"].T, state_dict["_fc.bias"]]
    return weights


def load_weights(model: keras.Model, state_dict: Mapping[str, np.ndarray]) -> None:
    """Set every weighted layer of `model` from the state dict; a shape mismatch names the layer."""
    weights = keras_weights(state_dict)
    for layer in model.layers:
        if not layer.weights:
            continue
        try:
            layer.set_weights(weights[layer.name])
        except (KeyError, ValueError) as error:
            raise InputError(
                f"The pretrained weights do not fit layer '{layer.name}' of {model.name}: {error}"
            ) from error
