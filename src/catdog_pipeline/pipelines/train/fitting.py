"""How a built model is fitted: seeds, optimiser, loss, class weights and callbacks from params."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
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
    """The `train.optimizer` at `learning_rate(...)`."""
    name, rate = params["optimizer"], learning_rate(params, steps_per_epoch)
    if name == "adam":
        return keras.optimizers.Adam(rate)
    if name == "adamw":
        return keras.optimizers.AdamW(rate)
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
    return keras.optimizers.RMSprop(rate)


def learning_rate(
    params: Mapping[str, Any], steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """`train.learning_rate`: reached linearly from 0 over `warmup_epochs`, then constant or
    cosine-decayed to 0 by the last epoch (`lr_schedule`)."""
    rate = float(params["learning_rate"])
    warmup_steps = params["warmup_epochs"] * steps_per_epoch
    if params["lr_schedule"] == "constant" and not warmup_steps:
        return rate
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup_steps else rate,
        decay_steps=max(params["epochs"] * steps_per_epoch - warmup_steps, 1),
        alpha=1.0 if params["lr_schedule"] == "constant" else 0.0,  # 1.0: no decay
        warmup_target=rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


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


def callbacks(
    params: Mapping[str, Any],
    epoch_offset: int = 0,
    checkpoint_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> list[keras.callbacks.Callback]:
    """Learning-rate logging, `checkpoint_callbacks`, the moving-average swap, early stopping
    on val_loss, and MLflow metrics if a run is active.

    `epoch_offset`: epochs already run by an earlier phase, so MLflow steps continue from them.
    The checkpoints come before the swap, so they save the weights being trained; early
    stopping comes after it, so it judges and keeps the averaged weights.
    """
    chosen: list[keras.callbacks.Callback] = [
        LearningRateLogger(),
        *checkpoint_callbacks,
        *weight_average(params),
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


def weight_average(params: Mapping[str, Any]) -> list[keras.callbacks.Callback]:
    """`WeightAverage` when `train.ema_momentum` is set."""
    momentum = params["ema_momentum"]
    return [] if momentum is None else [WeightAverage(float(momentum))]


class WeightAverage(keras.callbacks.Callback):
    """An exponential moving average of the model's weights, batch-norm statistics included.

    Keras' own (`use_ema` optimizers) averages only the trainable weights, so the averaged
    kernels meet the batch-norm statistics of the raw ones: on the 12k archive that held
    xception_mini's validation accuracy at 0.50-0.61 while it trained at 0.64-0.81. Here every
    float weight is averaged after each batch; the average is in the model while validating
    and from each epoch's end to the next epoch's start, so early stopping judges and keeps it
    and it is the model `fit` leaves. Checkpoints listed before this callback save the weights
    being trained; on a resume the average starts again from them.
    """

    def __init__(self, momentum: float) -> None:
        super().__init__()
        self._momentum = momentum
        self._trained: list[np.ndarray] | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._averaged = [v for v in self.model.weights if "float" in str(v.dtype)]
        self._average = [np.array(keras.ops.convert_to_numpy(v)) for v in self._averaged]

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for average, variable in zip(self._average, self._averaged, strict=True):
            average *= self._momentum
            average += (1 - self._momentum) * keras.ops.convert_to_numpy(variable)

    def on_test_begin(self, logs: dict | None = None) -> None:
        self._swap_in()

    def on_test_end(self, logs: dict | None = None) -> None:
        self._swap_out()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._swap_in()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._swap_out()

    def _swap_in(self) -> None:
        if self._trained is None:
            self._trained = [keras.ops.convert_to_numpy(v) for v in self._averaged]
            for variable, average in zip(self._averaged, self._average, strict=True):
                variable.assign(average)

    def _swap_out(self) -> None:
        if self._trained is not None:
            for variable, trained in zip(self._averaged, self._trained, strict=True):
                variable.assign(trained)
            self._trained = None


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
