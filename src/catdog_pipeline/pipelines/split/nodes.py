"""Split: kept images -> train/val/test, stratified by label, seeded, leakage-safe."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from catdog_pipeline.core.errors import InputError

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
SPLIT_COLUMNS = ["image_path", "original_path", "label", "label_index", "split", "group"]


def split_fractions(split: Mapping) -> np.ndarray:
    """The `split.fractions` for train, val and test, checked."""
    fractions = split["fractions"]
    if set(fractions) != set(SPLITS):
        raise InputError(f"split.fractions must name exactly {SPLITS}; got {sorted(fractions)}")
    values = np.array([float(fractions[name]) for name in SPLITS])
    if (values < 0).any() or not np.isclose(values.sum(), 1.0):
        raise InputError(f"split.fractions must be >= 0 and add up to 1; got {dict(fractions)}")
    return values


def assign_splits(image_manifest: pd.DataFrame, classes: Mapping, split: Mapping) -> pd.DataFrame:
    """Give every kept image a split, class by class, moving whole leakage groups together.

    A group is a duplicate group (images of one photo); an image outside any group is a group
    of one. Groups are shuffled with `split.seed` and dealt out until each split holds its
    fraction of the class's images.
    """
    fractions = split_fractions(split)
    class_names = list(classes)
    # Only the columns and rows the split needs, and no further copy of them: at 192,000
    # photos every copy of the paths costs ~25 MB.
    kept = image_manifest.loc[
        image_manifest["status"] == "kept", ["image_path", "original_path", "label"]
    ]
    unknown = set(kept["label"]) - set(class_names)
    if unknown:
        raise InputError(f"Labels {sorted(unknown)} are not in params `classes` {class_names}")
    group = image_manifest.loc[kept.index, "duplicate_group"].to_numpy(copy=True)
    lone = group < 0
    group[lone] = group.max(initial=-1) + 1 + np.arange(int(lone.sum()))
    rng = np.random.default_rng(int(split["seed"]))
    split_index = np.zeros(len(kept), dtype=np.int64)
    for label in class_names:
        rows = (kept["label"] == label).to_numpy()
        sizes = pd.Series(group[rows]).value_counts().sort_index()
        order = sizes.index[rng.permutation(len(sizes))]
        ends = np.cumsum(sizes.loc[order].to_numpy())
        bounds = np.cumsum(fractions)[:-1] * ends[-1] if len(ends) else []
        group_split = pd.Series(np.searchsorted(bounds, ends, side="left"), index=order)
        split_index[rows] = group_split.loc[group[rows]].to_numpy()
    split_names = np.array(SPLITS)[split_index]
    result = kept.assign(
        label_index=kept["label"].map(class_names.index).astype("int64"),
        split=pd.Series(split_names, index=kept.index, dtype="str"),
        group=group,
    )[SPLIT_COLUMNS]
    logger.info("Split: %s", result["split"].value_counts().to_dict())
    return in_manifest_order(result)


def in_manifest_order(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame`'s rows sorted by split, label and image path, the split manifest's order."""
    keys = [dense_rank(frame[column]) for column in ("image_path", "label", "split")]
    return frame.iloc[np.lexsort(keys)].reset_index(drop=True)


def dense_rank(values: pd.Series) -> np.ndarray:
    """Each value's rank among the distinct values, from one argsort: sorting by these
    integers (np.lexsort) spares the ~300 bytes a row that pandas' multi-key sort of strings
    takes at 192,000 photos."""
    order = values.argsort(kind="stable").to_numpy()
    ordered = values.iloc[order].reset_index(drop=True)
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[order] = np.cumsum(ordered.ne(ordered.shift()).to_numpy(dtype=bool, na_value=True)) - 1
    return ranks


def build_data_quality_report(
    clean_summary: Mapping, split_manifest: pd.DataFrame, label_review: Mapping[str, int]
) -> dict:
    """The cleaning counts, what the label review changed, and images per split and class:
    reports/data_quality.json."""
    counts = split_manifest.groupby(["split", "label"]).size()
    splits = {
        name: {str(label): int(n) for label, n in counts.get(name, pd.Series()).items()}
        for name in SPLITS
    }
    per_class = {
        label: {**figures, **{name: splits[name].get(label, 0) for name in SPLITS}}
        for label, figures in clean_summary["per_class"].items()
    }
    return {
        **clean_summary,
        "per_class": per_class,
        "label_review": dict(label_review),
        "splits": splits,
    }
