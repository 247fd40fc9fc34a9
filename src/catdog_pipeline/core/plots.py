"""The charts the evaluate stage saves and the report embeds: ROC, precision-recall, confusion
matrix and training curves, as pyplot-free matplotlib Figures.

matplotlib is imported inside each function: every `kedro run` imports this module through the
evaluate pipeline, and the data stages must not pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from catdog_pipeline.core.errors import InputError


def _new_figure(width: float = 5.0, height: float = 4.5) -> Any:
    """A new pyplot-free Figure.

    It renders to PNG with Agg whatever backend is active (no display needed), and leaves the
    global pyplot state of a notebook, or of another node, alone.
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def plot_roc(roc: pd.DataFrame, metrics: Mapping[str, Any]) -> Any:
    """The ROC curve, with its AUC, against the chance diagonal."""
    figure = _new_figure()
    axes = figure.add_subplot()
    auc = metrics.get("roc_auc")
    label = f"model (AUC = {auc:.3f})" if auc is not None else "model (AUC undefined)"
    axes.plot(roc["fpr"], roc["tpr"], label=label)
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve (test)")
    axes.set(xlim=(0, 1.02), ylim=(0, 1.02))
    axes.legend(loc="lower right")
    return figure


def plot_precision_recall(curve: pd.DataFrame, metrics: Mapping[str, Any]) -> Any:
    """The precision-recall curve, with the operating point at `evaluate.threshold`."""
    figure = _new_figure()
    axes = figure.add_subplot()
    axes.plot(curve["recall"], curve["precision"], drawstyle="steps-post", label="model")
    axes.scatter(
        [metrics["recall"]],
        [metrics["precision"]],
        color="red",
        zorder=3,
        label=f"threshold {metrics['threshold']:g}",
    )
    axes.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve (test)")
    axes.set(xlim=(0, 1.02), ylim=(0, 1.02))
    axes.legend(loc="lower left")
    return figure


def plot_confusion_matrix(metrics: Mapping[str, Any]) -> Any:
    """The confusion matrix as a heat map with counts: rows actual, columns predicted."""
    matrix = metrics["confusion_matrix"]
    classes = list(matrix)
    counts = np.array([[matrix[actual][predicted] for predicted in classes] for actual in classes])
    figure = _new_figure(4.5, 4.0)
    axes = figure.add_subplot()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(len(classes)), labels=classes)
    axes.set_yticks(range(len(classes)), labels=classes)
    axes.set(xlabel="Predicted", ylabel="Actual", title="Confusion matrix (test)")
    middle = counts.max() / 2 if counts.size else 0
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if count > middle else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=colour)
    return figure


def plot_training_curves(training_history: pd.DataFrame) -> Any:
    """Loss and accuracy per epoch, train against validation, from the training history."""
    missing = [name for name in ("loss", "accuracy") if name not in training_history]
    if missing:
        raise InputError(
            f"training_history has no {missing} column(s) (it has {list(training_history)}): "
            "re-run the train stage."
        )
    if "epoch" in training_history:
        epochs = training_history["epoch"]
    else:
        epochs = pd.Series(range(1, len(training_history) + 1))
    from matplotlib.ticker import MaxNLocator

    figure = _new_figure(9.0, 4.0)
    for position, metric in enumerate(("loss", "accuracy"), start=1):
        axes = figure.add_subplot(1, 2, position)
        axes.plot(epochs, training_history[metric], marker="o", label="train")
        if f"val_{metric}" in training_history:
            axes.plot(epochs, training_history[f"val_{metric}"], marker="o", label="validation")
        axes.set(xlabel="Epoch", ylabel=metric.capitalize(), title=metric.capitalize())
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend()
    return figure
