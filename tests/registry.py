"""Tiny Keras models registered in a throwaway MLflow registry, as the evaluate stage does it.

`colour_model(weight)` reads P(dog) = sigmoid(weight * (mean red - mean blue)): 3 is a good
model of "red is a dog, blue is a cat", 1 a timid one (same answers, less sure), -3 a wrong one.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

SIZE = (32, 32)


def colour_model(weight: float) -> Any:
    import keras

    inputs = keras.Input((*SIZE, 3), dtype="uint8")
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    output = keras.layers.Dense(1, activation="sigmoid", name="p_dog")(pooled)
    model = keras.Model(inputs, output)
    model.get_layer("p_dog").set_weights([np.array([[weight], [0.0], [-weight]]), np.zeros(1)])
    return model


def model_card(run_id: str | None = None) -> dict[str, Any]:
    return {
        "classes": ["cat", "dog"],
        "positive_class": "dog",
        "image_size": list(SIZE),
        "resize_mode": "pad",
        "max_pixels": 40_000_000,
        "test_time_augmentation": None,
        "mlflow_run_id": run_id,
    }


def register(weight: float) -> tuple[Any, dict[str, Any], str]:
    """Log and register `colour_model(weight)` as `catdog` in a new run of the current store,
    through the evaluate stage's own dataset; (model, its card, the version)."""
    import mlflow

    from catdog_pipeline.pipelines.evaluate.mlflow_model_dataset import MlflowCatdogModelDataset

    model = colour_model(weight)
    with mlflow.start_run() as run:
        card = model_card(run.info.run_id)
        MlflowCatdogModelDataset("catdog").save(
            {"model": model, "model_card": card, "threshold": 0.5, "test_metrics": {}}
        )
    versions = mlflow.MlflowClient().search_model_versions(f"run_id = '{run.info.run_id}'")
    return model, card, str(versions[0].version)


def colour_photo(rgb: tuple[int, int, int], seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 20, (*SIZE, 3))
    return np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)


def jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def gate_images(folder: Path, per_class: int = 6) -> pd.DataFrame:
    """Red dogs and blue cats as clean images (`<sha[:2]>/<sha>.jpg`); their split manifest."""
    rows = []
    for label, rgb in (("dog", (200, 60, 60)), ("cat", (60, 60, 200))):
        for seed in range(per_class):
            pixels = colour_photo(rgb, seed)
            sha = hashlib.sha256(pixels.tobytes()).hexdigest()
            path = folder / sha[:2] / f"{sha}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(jpeg(pixels))
            rows.append({"image_path": f"{sha[:2]}/{sha}.jpg", "label": label, "split": "test"})
    return pd.DataFrame(rows)
