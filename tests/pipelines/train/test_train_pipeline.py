"""`kedro run --pipeline train` in a project copy writes the model, its card and its history."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from tests.splits import install_clean_images


@pytest.mark.slow
def test_kedro_run_train_writes_model_card_and_history(
    project_copy, split_factory, train_params
) -> None:
    manifest, clean_images = split_factory({"train": 8, "val": 4, "test": 2})
    (project_copy / "data" / "03_primary").mkdir(parents=True, exist_ok=True)
    manifest.to_parquet(project_copy / "data" / "03_primary" / "split.parquet")
    install_clean_images(project_copy, clean_images)
    params_file = project_copy / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["image"]["size"] = [32, 32]
    params["train"] = train_params(epochs=2)
    params_file.write_text(yaml.safe_dump(params))

    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    kedro = [sys.executable, "-m", "kedro", "run", "--pipeline", "train"]
    result = subprocess.run(kedro, cwd=project_copy, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]

    model = keras.saving.load_model(project_copy / "data" / "06_models" / "model.keras")
    assert model.predict(np.zeros((1, 32, 32, 3), np.uint8), verbose=0).shape == (1, 1)
    card = json.loads((project_copy / "data" / "06_models" / "model_card.json").read_text())
    assert card["classes"] == ["cat", "dog"]
    assert card["image_size"] == [32, 32]
    assert card["architecture"] == "simple_cnn"
    assert card["epochs_run"] == 2
    history = pd.read_csv(project_copy / "reports" / "training_history.csv")
    assert history["epoch"].tolist() == [1, 2]
    assert list(history.columns) == [
        "epoch",
        "loss",
        "accuracy",
        "val_loss",
        "val_accuracy",
        "learning_rate",
    ]
    assert "training images/s" in result.stderr + result.stdout
