"""The train nodes on tiny images: history, model card, determinism, early stopping, MLflow."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from catdog_pipeline.core import tf_input
from catdog_pipeline.pipelines.train import fitting
from catdog_pipeline.pipelines.train.nodes import (
    HISTORY_COLUMNS,
    describe_model,
    history_table,
    train_model,
)


def test_training_returns_a_learning_model_and_its_history(
    tiny_split, classes, image, train_params
) -> None:
    manifest, clean_images = tiny_split
    params = train_params(epochs=4, early_stopping_patience=10, learning_rate=0.01)

    model, history = train_model(manifest, clean_images, classes, image, params)

    assert list(history.columns) == HISTORY_COLUMNS
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    # Cosine decay: the first epoch starts at the full rate, later ones lower and lower.
    assert history["learning_rate"].iloc[0] == pytest.approx(0.01)
    assert history["learning_rate"].is_monotonic_decreasing
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]
    assert history["accuracy"].iloc[-1] >= 0.9
    assert model.predict(np.zeros((2, 32, 32, 3), np.uint8), verbose=0).shape == (2, 1)


PRETRAINED = {
    "backbone": "EfficientNetLite0",
    "weights": "package",
    "freeze_backbone": True,
    "dropout": 0.1,
    "fine_tune_blocks": 0,
    "fine_tune_epochs": 0,
    "fine_tune_learning_rate": 0.0001,
}


@pytest.mark.parametrize(
    "architecture",
    [{"architecture": "xception_mini"}, {"architecture": "transfer", "transfer": PRETRAINED}],
)
def test_two_seeded_deterministic_trainings_give_identical_weights(
    tiny_split, classes, image, train_params, architecture
) -> None:
    manifest, clean_images = tiny_split
    params = train_params(epochs=2, deterministic=True, **architecture)

    first, first_history = train_model(manifest, clean_images, classes, image, params)
    second, second_history = train_model(manifest, clean_images, classes, image, params)

    pd.testing.assert_frame_equal(first_history, second_history)
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_early_stopping_stops_and_restores_the_best_epoch(
    split_factory, classes, image, train_params
) -> None:
    # Random labels: the network can only memorise the training images, so val_loss soon rises.
    manifest, clean_images = split_factory({"train": 16, "val": 16}, random_labels=True)
    params = train_params(
        epochs=30, early_stopping_patience=2, learning_rate=0.05, lr_schedule="constant"
    )

    model, history = train_model(manifest, clean_images, classes, image, params)
    card = describe_model(history, classes, image, params, 32)

    assert card["epochs_run"] < 30
    assert card["best_epoch"] == card["epochs_run"] - 2
    val = tf_input.image_dataset(
        tf_input.image_files(manifest, clean_images, "val"),
        tf_input.split_labels(manifest, "val"),
        image_size=(32, 32),
        batch_size=8,
    )
    restored_val_loss = model.evaluate(val, verbose=0)[0]
    assert restored_val_loss == pytest.approx(history["val_loss"].min(), rel=1e-4)
    assert restored_val_loss < history["val_loss"].iloc[-1]


def test_an_active_mlflow_run_gets_each_epochs_metrics_with_its_step(
    tiny_split, classes, image, train_params, monkeypatch
) -> None:
    class FakeMlflow:
        logged: list[tuple[dict, int]] = []

        def active_run(self):
            return object()

        def log_metrics(self, metrics, step):
            self.logged.append((metrics, step))

    monkeypatch.setitem(sys.modules, "mlflow", FakeMlflow())
    manifest, clean_images = tiny_split

    train_model(manifest, clean_images, classes, image, train_params(epochs=2))

    assert [step for _, step in FakeMlflow.logged] == [1, 2]
    assert set(FakeMlflow.logged[0][0]) == set(HISTORY_COLUMNS[1:])


def test_without_an_active_run_mlflow_is_left_alone(train_params, monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "mlflow", raising=False)

    chosen = fitting.callbacks(train_params())

    assert not any(isinstance(c, fitting.MlflowEpochMetrics) for c in chosen)
    assert "mlflow" not in sys.modules


def test_a_label_index_out_of_step_with_classes_is_refused(
    tiny_split, classes, image, train_params
) -> None:
    manifest, clean_images = tiny_split
    manifest.loc[0, "label_index"] = 1 - manifest.loc[0, "label_index"]

    with pytest.raises(ValueError, match=manifest.loc[0, "image_path"]):
        train_model(manifest, clean_images, classes, image, train_params())


def test_training_without_a_val_split_is_refused(tiny_split, classes, image, train_params) -> None:
    manifest, clean_images = tiny_split

    with pytest.raises(ValueError, match="0 val images"):
        train_model(
            manifest[manifest["split"] != "val"], clean_images, classes, image, train_params()
        )


def test_the_model_card_names_classes_input_and_best_epoch(classes, image) -> None:
    history = history_table(
        {
            "loss": [0.7, 0.5, 0.4],
            "accuracy": [0.5, 0.7, 0.8],
            "val_loss": [0.6, 0.45, 0.5],
            "val_accuracy": [0.6, 0.8, 0.75],
            "learning_rate": [0.001] * 3,
        }
    )

    card = describe_model(
        history,
        classes,
        image,
        {"architecture": "simple_cnn", "test_time_augmentation": None},
        min_side=24,
    )

    assert card == {
        "classes": ["cat", "dog"],
        "positive_class": "dog",
        "image_size": [32, 32],
        "resize_mode": "pad",
        "max_pixels": 40_000_000,
        "min_side": 24,
        "architecture": "simple_cnn",
        "epochs_run": 3,
        "best_epoch": 2,
        "test_time_augmentation": None,
    }


def test_balanced_class_weights_make_both_classes_count_the_same() -> None:
    labels = np.array([0, 0, 0, 1], dtype=np.float32)

    weights = fitting.class_weights(labels, "balanced")

    assert weights == {0: pytest.approx(4 / 6), 1: pytest.approx(2.0)}
    assert weights[0] * 3 == pytest.approx(weights[1] * 1)
    assert fitting.class_weights(labels, None) is None


def test_a_training_split_with_one_class_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[3, 0\]"):
        fitting.class_weights(np.zeros(3, dtype=np.float32), "balanced")


def test_the_pipeline_module_does_not_import_tensorflow() -> None:
    code = (
        "import sys, catdog_pipeline.pipelines.train.pipeline; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
