"""The from-scratch recipe's options: learning-rate warm-up and the weights' moving average."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import yaml

from catdog_pipeline.core.params_schema import ParamsError, validate_params
from catdog_pipeline.pipelines.train import fitting
from catdog_pipeline.pipelines.train.nodes import train_model

from .conftest import PROJECT_PARAMS, tiny_train_params


def rates(params: dict, steps_per_epoch: int, steps: list[int]) -> list[float]:
    schedule = fitting.learning_rate(params, steps_per_epoch)
    return [float(keras.ops.convert_to_numpy(schedule(step))) for step in steps]


def test_warmup_rises_linearly_from_zero_then_decays_to_zero_by_the_last_epoch():
    params = tiny_train_params(epochs=10, warmup_epochs=2, learning_rate=0.1, lr_schedule="cosine")

    ramp = rates(params, 5, [0, 5, 10])
    decay = rates(params, 5, list(range(10, 51, 5)))

    assert ramp == pytest.approx([0.0, 0.05, 0.1])
    assert decay[-1] == pytest.approx(0.0, abs=1e-7)
    assert all(later < earlier for earlier, later in zip(decay, decay[1:], strict=False))


def test_warmup_with_a_constant_rate_stays_at_the_rate_after_the_ramp():
    params = tiny_train_params(
        epochs=10, warmup_epochs=1, learning_rate=0.1, lr_schedule="constant"
    )

    assert rates(params, 4, [0, 2, 4, 20, 39]) == pytest.approx([0.0, 0.05, 0.1, 0.1, 0.1])


def test_without_warmup_the_schedules_are_as_before():
    constant = tiny_train_params(learning_rate=0.1, lr_schedule="constant")
    cosine = tiny_train_params(epochs=4, learning_rate=0.1, lr_schedule="cosine")

    assert fitting.learning_rate(constant, 5) == 0.1
    assert rates(cosine, 5, [0, 10, 20]) == pytest.approx([0.1, 0.05, 0.0], abs=1e-7)


def test_warmup_as_long_as_the_training_is_refused():
    params = yaml.safe_load(PROJECT_PARAMS.read_text())
    params["train"].update(epochs=3, warmup_epochs=3)

    with pytest.raises(ParamsError, match=r"warmup_epochs \(3\) must be fewer than epochs \(3\)"):
        validate_params(params)


def fit_tiny(ema_momentum: float | None, *layers: keras.layers.Layer):
    """A logistic regression (after `layers`) fitted 5 epochs on inputs of mean 3; returns it,
    how far each of its weights moved, its history and its data."""
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 1.0, size=(64, 4)).astype("float32")
    y = (x[:, 0] > 3.0).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), *layers, keras.layers.Dense(1, activation="sigmoid")]
    )
    start = model.get_weights()
    params = tiny_train_params(
        epochs=5,
        learning_rate=0.1,
        lr_schedule="constant",
        ema_momentum=ema_momentum,
        early_stopping_patience=10,
    )
    fitting.compile_model(model, params, steps_per_epoch=8)
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=5,
        validation_data=(x, y),
        callbacks=fitting.callbacks(params),
        verbose=0,
    )
    moved = [float(np.abs(a - b).sum()) for a, b in zip(model.get_weights(), start, strict=True)]
    return model, moved, history, (x, y)


def test_the_moving_average_is_what_is_validated_and_kept():
    _, plain_moved, _, _ = fit_tiny(None)
    # Momentum near 1: the average hardly leaves the weights of the first step.
    averaged_model, averaged_moved, history, (x, y) = fit_tiny(0.9999)

    assert sum(averaged_moved) < 0.3 * sum(plain_moved)
    kept_loss = averaged_model.evaluate(x, y, verbose=0)[0]
    assert kept_loss == pytest.approx(min(history.history["val_loss"]), rel=1e-5)


def test_batch_norm_statistics_are_averaged_with_the_weights():
    # get_weights() order of a BatchNormalization: gamma, beta, moving mean, moving variance.
    _, plain_moved, _, _ = fit_tiny(None, keras.layers.BatchNormalization())
    _, averaged_moved, _, _ = fit_tiny(0.9999, keras.layers.BatchNormalization())

    assert averaged_moved[2] < 0.3 * plain_moved[2]  # the moving mean, on its way towards 3


def test_a_training_with_warmup_and_the_average_saves_a_loadable_model(
    tiny_split, classes, image, train_params, tmp_path
):
    manifest, clean_images = tiny_split
    params = train_params(epochs=3, warmup_epochs=1, ema_momentum=0.9, learning_rate=0.01)

    model, history = train_model(manifest, clean_images, classes, image, params)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)

    assert history["learning_rate"].tolist()[:2] == pytest.approx([0.0, 0.01])
    assert history["val_loss"].notna().all()
    pixels = np.random.default_rng(1).integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)
    np.testing.assert_allclose(loaded.predict(pixels, verbose=0), model.predict(pixels, verbose=0))
