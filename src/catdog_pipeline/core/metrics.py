"""The scalar test metrics evaluate writes, the report compares and promotion gates on."""

from __future__ import annotations

# In the order metrics.json, MLflow and the report show them.
SCALAR_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss")
LOWER_IS_BETTER = frozenset({"log_loss"})


def gain(name: str, new: float, old: float) -> float:
    """How much better `new` is than `old` on metric `name` (negative: worse)."""
    delta = float(new) - float(old)
    return -delta if name in LOWER_IS_BETTER else delta
