"""Tiny training fixtures: 32x32 JPEGs in the clean_images layout and the split manifest."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from tests.splits import CLASSES, SIZE, make_split

PROJECT_PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"
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
