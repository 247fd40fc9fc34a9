"""A crashed training resumes from its checkpoint when rerun on the same split and params."""

from __future__ import annotations

import os

import keras
import pytest

from catdog_pipeline.pipelines.train import fitting, transfer_fitting
from catdog_pipeline.pipelines.train.nodes import train_model


class Crash(RuntimeError):
    """Stands for a kill in the middle of training."""


def crash_after_epoch(epoch_count: int):
    class CrashAfter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if epoch + 1 == epoch_count:
                raise Crash(f"killed after epoch {epoch_count}")

    return CrashAfter()


def test_a_crashed_training_resumes_at_the_next_epoch(
    tiny_split, classes, image, train_params, monkeypatch
) -> None:
    params = train_params(epochs=4, early_stopping_patience=10)
    callbacks = fitting.callbacks
    monkeypatch.setattr(
        fitting, "callbacks", lambda *a, **k: [*callbacks(*a, **k), crash_after_epoch(2)]
    )
    with pytest.raises(Crash):
        train_model(*tiny_split, classes, image, params)

    epochs_run = []

    class Count(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            epochs_run.append(epoch + 1)

    monkeypatch.setattr(fitting, "callbacks", lambda *a, **k: [*callbacks(*a, **k), Count()])
    _, history = train_model(*tiny_split, classes, image, params)

    # The crash came after epoch 2 was saved (the checkpoints are among fitting.callbacks,
    # before the test's crash): epochs 1 and 2 are not run again.
    assert epochs_run == [3, 4]
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert history["loss"].notna().all() and history["learning_rate"].notna().all()
    assert os.listdir(os.environ["CATDOG_CHECKPOINT_DIR"]) == []  # removed after success


def test_other_params_start_afresh(tiny_split, classes, image, train_params, monkeypatch) -> None:
    callbacks = fitting.callbacks
    monkeypatch.setattr(
        fitting, "callbacks", lambda *a, **k: [*callbacks(*a, **k), crash_after_epoch(2)]
    )
    with pytest.raises(Crash):
        train_model(*tiny_split, classes, image, train_params(epochs=3))
    monkeypatch.setattr(fitting, "callbacks", callbacks)

    _, history = train_model(*tiny_split, classes, image, train_params(epochs=3, seed=7))

    assert history["epoch"].tolist() == [1, 2, 3]
    assert len(os.listdir(os.environ["CATDOG_CHECKPOINT_DIR"])) == 1  # the crashed one's


def test_frozen_features_survive_a_crash_and_are_not_computed_again(
    tiny_split, classes, image, train_params, monkeypatch
) -> None:
    params = train_params(
        architecture="transfer",
        transfer={
            **train_params()["transfer"],
            "backbone": "EfficientNetLite0",
            "weights": "package",
            "freeze_backbone": True,
        },
    )
    compute = transfer_fitting.extract_features
    calls = []

    def counted(*args, **kwargs):
        calls.append(kwargs["description"])
        return compute(*args, **kwargs)

    monkeypatch.setattr(transfer_fitting, "extract_features", counted)
    monkeypatch.setattr(keras.Sequential, "fit", lambda *a, **k: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        train_model(*tiny_split, classes, image, params)
    assert calls == ["train", "train", "val"]  # the images and their mirror images, then val
    checkpoints = os.environ["CATDOG_CHECKPOINT_DIR"]
    monkeypatch.undo()  # the crash is over (and the environment restored)

    monkeypatch.setenv("CATDOG_CHECKPOINT_DIR", checkpoints)
    monkeypatch.setattr(transfer_fitting, "extract_features", counted)
    _, history = train_model(*tiny_split, classes, image, params)

    assert calls == ["train", "train", "val"]  # nothing computed on the rerun
    assert len(history) == params["epochs"]
