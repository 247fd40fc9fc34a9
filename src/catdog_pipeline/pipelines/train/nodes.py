"""Train nodes: fit the `train.architecture` network on the train split, describe the result.

TensorFlow is imported inside `train_model` only: the data pipelines import every
pipeline.py (and so this module) and must not pay for, or depend on, TensorFlow.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from catdog_pipeline.core.errors import InputError

if TYPE_CHECKING:
    import keras

    from .distribution import Distribution

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]


def train_model(
    split_manifest: pd.DataFrame,
    clean_images: Path,
    classes: Mapping[str, Any],
    image: Mapping[str, Any],
    train: Mapping[str, Any],
) -> tuple[keras.Model, pd.DataFrame]:
    """Fit a model on the `train` rows, early-stopped on the `val` rows.

    Returns the model with its best-epoch weights (raw uint8 RGB of `image.size` in, one
    sigmoid P(classes[1]) out) and the per-epoch history (`HISTORY_COLUMNS`).
    """
    from . import checkpoints, fitting, models
    from .distribution import Distribution

    _check_labels(split_manifest, list(classes))
    _check_splits(split_manifest)
    # Before any other TensorFlow operation: a multi-worker strategy must configure the process.
    distribution = Distribution(train["distribution"], train["batch_size"])
    fitting.make_reproducible(train["seed"], train["deterministic"])
    with distribution.scope():
        model = models.build_model(image["size"], train)
    fit = _fit_transfer if _trains_head_on_frozen_features(train) else _fit_on_images
    checkpoint = checkpoints.checkpoint_folder(
        split_manifest,
        {"classes": classes, "image": image, "train": train},
        distribution.checkpoint_part,
    )
    started = time.perf_counter()
    history = history_table(
        fit(model, split_manifest, clean_images, train, image["size"], checkpoint, distribution)
    )
    seconds = time.perf_counter() - started
    checkpoints.finish(checkpoint)
    train_count = int((split_manifest["split"] == "train").sum())
    logger.info(
        "Fitted %d epoch(s) of %d images in %.1f s: %.1f training images/s (validation included)",
        len(history),
        train_count,
        seconds,
        len(history) * train_count / seconds,
    )
    return model, history


def _trains_head_on_frozen_features(train: Mapping[str, Any]) -> bool:
    return train["architecture"] == "transfer" and train["transfer"]["freeze_backbone"]


def _fit_on_images(
    model: keras.Model,
    split_manifest: pd.DataFrame,
    clean_images: Path,
    train: Mapping[str, Any],
    image_size: Sequence[int],
    checkpoint: Path,
    distribution: Distribution,
) -> dict[str, list[float]]:
    """The whole model, every epoch on the (augmented) training images; resumable."""
    from . import checkpoints, fitting

    train_data, class_weight, steps = _image_inputs(
        split_manifest, clean_images, train, image_size, distribution
    )
    val_data, _ = distribution.image_input(
        *distribution.own_split(split_manifest, clean_images, "val"), image_size
    )
    with distribution.scope():
        fitting.compile_model(model, train, steps)
    model.fit(
        train_data,
        validation_data=val_data,
        epochs=train["epochs"],
        shuffle=False,  # train_data reshuffles itself every epoch; Keras cannot shuffle tf.data
        class_weight=class_weight,
        callbacks=fitting.callbacks(train, checkpoint_callbacks=checkpoints.resumable(checkpoint)),
        verbose=2,
    )
    return checkpoints.recorded_history(checkpoint)


def _fit_transfer(
    model: keras.Model,
    split_manifest: pd.DataFrame,
    clean_images: Path,
    train: Mapping[str, Any],
    image_size: Sequence[int],
    checkpoint: Path,
    distribution: Distribution,
) -> dict[str, list[float]]:
    """Head on frozen features (kept in `checkpoint` for a rerun after a crash), then (if
    asked) resumable fine-tuning of the top blocks. Across workers, each computes the features
    of its own shard, then the head trains on all of them under the strategy."""
    from catdog_pipeline.core import tf_input

    from . import checkpoints, fitting, transfer_fitting

    batching = {"image_size": image_size, "batch_size": train["batch_size"]}
    own_train, own_train_labels = distribution.own_split(split_manifest, clean_images, "train")
    own_val, own_val_labels = distribution.own_split(split_manifest, clean_images, "val")
    cache = functools.partial(checkpoints.cached_array, checkpoint)
    all_train_labels = tf_input.split_labels(split_manifest, "train")
    history = transfer_fitting.fit_head(
        model,
        tf_input.image_dataset(own_train, own_train_labels, **batching),
        own_train_labels,
        tf_input.image_dataset(own_val, own_val_labels, **batching),
        own_val_labels,
        train,
        cache,
        fitting.class_weights(all_train_labels, train["class_weight"]),
        distribution,
    )
    transfer = train["transfer"]
    if transfer["fine_tune_blocks"] and transfer["fine_tune_epochs"]:
        shuffled, class_weight, steps = _image_inputs(
            split_manifest, clean_images, train, image_size, distribution
        )
        val_data, _ = distribution.image_input(own_val, own_val_labels, image_size)
        tuned = transfer_fitting.fine_tune(
            model,
            shuffled,
            val_data,
            class_weight,
            steps,
            train,
            len(history["loss"]),
            checkpoint,
            distribution,
        )
        history = {name: history[name] + tuned[name] for name in history}
    return history


def _image_inputs(
    split_manifest: pd.DataFrame,
    clean_images: Path,
    train: Mapping[str, Any],
    image_size: Sequence[int],
    distribution: Distribution,
) -> tuple[Any, Mapping[int, float] | None, int]:
    """This worker's training images, shuffled every epoch, for `fit`: the data, its
    class_weight argument, and the steps of an epoch. Class weights count the whole split."""
    from catdog_pipeline.core import tf_input

    from . import fitting

    paths, labels = distribution.own_split(split_manifest, clean_images, "train")
    weights = fitting.class_weights(
        tf_input.split_labels(split_manifest, "train"), train["class_weight"]
    )
    data, class_weight = distribution.image_input(
        paths, labels, image_size, shuffle_seed=train["seed"], class_weight=weights
    )
    return data, class_weight, distribution.steps_per_epoch(len(paths))


def history_table(history: Mapping[str, list[float]]) -> pd.DataFrame:
    """Keras' `History.history` as one row per epoch (counted from 1), columns HISTORY_COLUMNS."""
    table = pd.DataFrame({name: history[name] for name in HISTORY_COLUMNS[1:]})
    table.insert(0, "epoch", range(1, len(table) + 1))
    return table


def describe_model(
    training_history: pd.DataFrame,
    classes: Mapping[str, Any],
    image: Mapping[str, Any],
    train: Mapping[str, Any],
    min_side: int,
) -> dict[str, Any]:
    """The model card: what predict/serve need to prepare inputs as training did, and the run.

    `min_side` is clean's: predict and serve refuse the images clean would quarantine.
    `pretrained` records a transfer backbone's weights: their origin, file and sha256.
    """
    from catdog_pipeline.core.inference import check_test_time_augmentation

    class_names = list(classes)
    best_row = training_history["val_loss"].idxmin()
    card = {
        "classes": class_names,
        "positive_class": class_names[1],
        "image_size": [int(side) for side in image["size"]],
        "resize_mode": image["resize_mode"],
        "max_pixels": int(image["max_pixels"]),
        "min_side": int(min_side),
        "architecture": train["architecture"],
        "epochs_run": len(training_history),
        "best_epoch": int(training_history.loc[best_row, "epoch"]),
        "test_time_augmentation": check_test_time_augmentation(train["test_time_augmentation"]),
    }
    if train["architecture"] == "transfer":
        from catdog_pipeline.core.backbones import weights_origin

        transfer = train["transfer"]
        card["pretrained"] = weights_origin(transfer["backbone"], transfer["weights"])
    return card


def _check_labels(split_manifest: pd.DataFrame, class_names: list[str]) -> None:
    """Every row's label_index must be its label's position in `classes`."""
    expected = split_manifest["label"].map({name: i for i, name in enumerate(class_names)})
    wrong = split_manifest[expected != split_manifest["label_index"]]
    if not wrong.empty:
        row = wrong.iloc[0]
        raise InputError(
            f"split_manifest has {len(wrong)} row(s) whose label_index does not match params "
            f"`classes` {class_names}, e.g. '{row['image_path']}' labelled {row['label']!r} "
            f"with index {row['label_index']}. Re-run the split stage with the current params."
        )


def _check_splits(split_manifest: pd.DataFrame) -> None:
    counts = split_manifest["split"].value_counts()
    if not counts.get("train") or not counts.get("val"):
        raise InputError(
            f"split_manifest has {counts.get('train', 0)} train and {counts.get('val', 0)} val "
            "images: training needs both (early stopping watches the val split). "
            "Check split.fractions."
        )
