"""Tiny training fixtures: 32x32 JPEGs in the clean_images layout and the split manifest."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from catdog_pipeline.images import encode_jpeg

PROJECT_PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"
SIZE = (32, 32)
CLASSES = {"cat": ["cat"], "dog": ["dog"]}
IMAGE = {"size": list(SIZE), "resize_mode": "pad", "max_pixels": 40_000_000}


def tiny_train_params(**overrides: Any) -> dict[str, Any]:
    """The project's `train:` params shrunk to seconds: a 2-block CNN, 3 epochs, batch 8."""
    params = copy.deepcopy(yaml.safe_load(PROJECT_PARAMS.read_text())["train"])
    params.update(
        architecture="simple_cnn",
        input_resize=None,
        epochs=3,
        batch_size=8,
        early_stopping_patience=2,
        simple_cnn={"filters": [4, 8], "dense_units": 8, "dropout": 0.1},
        xception_mini={"entry_filters": 4, "block_filters": [8], "exit_filters": 8, "dropout": 0.1},
        transfer={
            "backbone": "MobileNetV3Small",
            "weights": None,
            "freeze_backbone": False,
            "dropout": 0.1,
            "fine_tune_blocks": 0,
            "fine_tune_epochs": 0,
            "fine_tune_learning_rate": 0.0001,
        },
    )
    params.update(overrides)
    return params


def write_clean_image(clean_images: Path, pixels: np.ndarray) -> str:
    """Store `pixels` as the clean stage does (<sha[:2]>/<sha>.jpg); return the relative path."""
    sha = hashlib.sha256(pixels.tobytes()).hexdigest()
    relative = f"{sha[:2]}/{sha}.jpg"
    (clean_images / sha[:2]).mkdir(parents=True, exist_ok=True)
    (clean_images / relative).write_bytes(encode_jpeg(Image.fromarray(pixels), quality=95))
    return relative


def make_split(
    root: Path, counts: dict[str, int], *, seed: int = 0, random_labels: bool = False
) -> tuple[pd.DataFrame, Path]:
    """Images under root/images and their split manifest, `counts` = {split: images per class}.

    Cats are dark and dogs bright, so a tiny network learns them in a few epochs; with
    `random_labels` the label has nothing to do with the picture (a network can only overfit).
    """
    rng = np.random.default_rng(seed)
    clean_images = root / "images"
    rows = []
    for split, per_class in counts.items():
        for label_index, label in enumerate(CLASSES):
            for _ in range(per_class):
                base = 60 + 120 * label_index if not random_labels else 120
                pixels = np.clip(rng.normal(base, 40, (*SIZE, 3)), 0, 255).astype(np.uint8)
                shown = int(rng.integers(2)) if random_labels else label_index
                rows.append(
                    {
                        "image_path": write_clean_image(clean_images, pixels),
                        "original_path": f"PetImages/{label}/{len(rows)}.jpg",
                        "label": list(CLASSES)[shown],
                        "label_index": shown,
                        "split": split,
                        "group": len(rows),
                    }
                )
    return pd.DataFrame(rows), clean_images


@pytest.fixture
def train_params() -> Callable[..., dict[str, Any]]:
    """`tiny_train_params`, as a fixture: train_params(epochs=5, ...)."""
    return tiny_train_params


@pytest.fixture
def split_factory(tmp_path: Path) -> Callable[..., tuple[pd.DataFrame, Path]]:
    """`make_split` into a fresh folder under tmp_path: split_factory({"train": 8, ...})."""
    made = iter(range(1_000))
    return lambda counts, **kwargs: make_split(tmp_path / f"set{next(made)}", counts, **kwargs)


@pytest.fixture
def tiny_split(split_factory) -> tuple[pd.DataFrame, Path]:
    """24 train, 8 val and 4 test images of each class, 32x32."""
    return split_factory({"train": 24, "val": 8, "test": 4})


@pytest.fixture
def classes() -> dict[str, list[str]]:
    return copy.deepcopy(CLASSES)


@pytest.fixture
def image() -> dict[str, Any]:
    return copy.deepcopy(IMAGE)
