"""The drift signal: the last predictions against the evaluation set's.

`DriftWindow` holds the last `serve.drift_window` predictions; `Reference` is the evaluation
set's share of uncertain predictions and of each class, from evaluate's per-image predictions
(the catalog's `test_predictions`, named by params.yaml `serve.drift_reference`).
monitoring.py exposes both as Prometheus gauges.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from catdog_pipeline.core.errors import InputError


@dataclass(frozen=True)
class Reference:
    """The evaluation set's share of uncertain predictions and of each predicted class."""

    uncertain_share: float
    class_share: Mapping[str, float]


def reference_from_predictions(
    predictions: Any, positive_class: str, uncertain_below: float
) -> Reference:
    """A Reference from evaluate's test predictions (columns `probability` = P(positive
    class) and `predicted`), with each image's confidence taken as the service reports it."""
    p_positive = predictions["probability"].to_numpy(dtype=float)
    is_positive = (predictions["predicted"] == positive_class).to_numpy()
    confidence = np.where(is_positive, p_positive, 1.0 - p_positive)
    if len(confidence) == 0:
        raise InputError("the reference predictions are empty")
    counts = Counter(str(label) for label in predictions["predicted"])
    return Reference(
        uncertain_share=float(np.mean(confidence < uncertain_below)),
        class_share={label: n / len(confidence) for label, n in counts.items()},
    )


class DriftWindow:
    """The last `size` predictions: their share of uncertain ones and of each label."""

    def __init__(self, size: int, classes: Sequence[str]) -> None:
        self._items: deque[tuple[str, bool]] = deque(maxlen=size)
        self._labels = Counter({label: 0 for label in classes})
        self._uncertain = 0

    def add(self, label: str, uncertain: bool) -> None:
        """Record one prediction, forgetting the oldest once the window is full."""
        if len(self._items) == self._items.maxlen:
            old_label, old_uncertain = self._items.popleft()
            self._labels[old_label] -= 1
            self._uncertain -= old_uncertain
        self._items.append((label, uncertain))
        self._labels[label] += 1
        self._uncertain += uncertain

    def __len__(self) -> int:
        return len(self._items)

    def uncertain_share(self) -> float:
        return self._uncertain / len(self._items) if self._items else 0.0

    def class_share(self) -> dict[str, float]:
        total = len(self._items)
        return {label: (n / total if total else 0.0) for label, n in self._labels.items()}


def load_reference(
    path: str | None, positive_class: str, uncertain_below: float
) -> Reference | None:
    """The drift baseline from evaluate's test predictions (Parquet); None if no path or file."""
    if not path or not Path(path).is_file():
        return None
    import pandas as pd

    return reference_from_predictions(pd.read_parquet(path), positive_class, uncertain_below)
