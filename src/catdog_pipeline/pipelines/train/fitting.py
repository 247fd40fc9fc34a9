"""How a built model is fitted: seeds, optimiser, loss, class weights and callbacks from params."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from catdog_pipeline.core.errors import InputError


def make_reproducible(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; with `deterministic`, turn on op determinism.

    Op determinism is process-wide and TensorFlow offers no public way to switch it off again.
    """
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def compile_model(model: keras.Model, params: Mapping[str, Any], steps_per_epoch: int) -> None:
    """Compile with `train.optimizer`, its learning rate/schedule and label-smoothed BCE."""
    model.compile(
        optimizer=optimizer(params, steps_per_epoch),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=params["label_smoothing"]),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )


def optimizer(params: Mapping[str, Any], steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The `train.optimizer` with `train.learning_rate`, constant or cosine-decayed to 0."""
    name, schedule = params["optimizer"], params["lr_schedule"]
    rate = float(params["learning_rate"])
    if schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(
            rate, decay_steps=params["epochs"] * steps_per_epoch
        )
    if name == "adam":
        return keras.optimizers.Adam(rate)
    if name == "adamw":
        return keras.optimizers.AdamW(rate)
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
    return keras.optimizers.RMSprop(rate)


def class_weights(labels: np.ndarray, mode: str | None) -> dict[int, float] | None:
    """`balanced`: weight each class by n / (2 * its count), as scikit-learn does; None: off."""
    if mode is None:
        return None
    counts = np.bincount(labels.astype(int), minlength=2)
    if counts.min() == 0:
        raise InputError(
            f"The training split has {counts.tolist()} images per class: both classes need "
            "images. Check the split stage's output (reports/data_quality.json)."
        )
    return {index: len(labels) / (2 * count) for index, count in enumerate(counts)}


def callbacks(params: Mapping[str, Any], epoch_offset: int = 0) -> list[keras.callbacks.Callback]:
    """Learning-rate logging, early stopping on val_loss, and MLflow metrics if a run is active.

    `epoch_offset`: epochs already run by an earlier phase, so MLflow steps continue from them.
    """
    chosen: list[keras.callbacks.Callback] = [
        LearningRateLogger(),
        keras.callbacks.EarlyStopping(
            monitor="val_loss",
            patience=params["early_stopping_patience"],
            restore_best_weights=True,
        ),
    ]
    mlflow = sys.modules.get("mlflow")
    # A run can only be active if something imported mlflow already (kedro-mlflow does); when
    # nothing has, there is no run and no reason to pay for the import.
    if mlflow is not None and mlflow.active_run() is not None:
        chosen.append(MlflowEpochMetrics(mlflow, epoch_offset))
    return chosen


class LearningRateLogger(keras.callbacks.Callback):
    """Add the learning rate each epoch started with to that epoch's logs (and so the history)."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = self._rate


class MlflowEpochMetrics(keras.callbacks.Callback):
    """Log each epoch's metrics to the active MLflow run with step = epoch (counted from 1)."""

    def __init__(self, mlflow: Any, epoch_offset: int = 0) -> None:
        super().__init__()
        self._mlflow = mlflow
        self._epoch_offset = epoch_offset

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = {name: float(value) for name, value in (logs or {}).items()}
        self._mlflow.log_metrics(metrics, step=self._epoch_offset + epoch + 1)
