"""The gate set: the fixed images every challenger and champion are scored on.

It is the test split's images, frozen by content (clean images are named by the SHA-256 of
their pixels) the first time `catdog gate-set` runs, and committed with the project. It only
grows on purpose (`catdog gate-set --extend`). At promotion time only gate images that the
current split still holds as `test` count, so an image that a rebuilt split moved into
training can never flatter the challenger.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from catdog_pipeline.core.errors import InputError

GATE_COLUMNS = ["image_path", "label"]


def freeze_gate_set(split_manifest: pd.DataFrame, existing: pd.DataFrame | None) -> pd.DataFrame:
    """The gate set: `existing` (if any) plus the split's test images not in it yet."""
    test = split_manifest.loc[split_manifest["split"] == "test", GATE_COLUMNS]
    if existing is None or existing.empty:
        return test.sort_values("image_path").reset_index(drop=True)
    added = test[~test["image_path"].isin(existing["image_path"])]
    return pd.concat([existing[GATE_COLUMNS], added], ignore_index=True)


def select_gate_images(
    gate_set: pd.DataFrame, split_manifest: pd.DataFrame, promote: Mapping[str, Any]
) -> pd.DataFrame:
    """The gate images usable now: those the current split holds as `test`, with their label.

    Raises ValueError when fewer than `promote.min_gate_images` remain (new data or a new
    split seed moved them): freeze a new gate set on purpose then.
    """
    test = split_manifest.loc[split_manifest["split"] == "test", GATE_COLUMNS]
    usable = gate_set[GATE_COLUMNS].merge(test, on="image_path", suffixes=("", "_now"))
    relabelled = usable["label"] != usable["label_now"]
    if relabelled.any():
        raise InputError(
            f"{int(relabelled.sum())} gate images carry another label in the current split "
            f"(e.g. {usable.loc[relabelled, 'image_path'].iloc[0]}): fix the labels, then "
            "re-freeze the gate set (`catdog gate-set --replace`)."
        )
    minimum = int(promote["min_gate_images"])
    if len(usable) < minimum:
        raise InputError(
            f"Only {len(usable)} of the gate set's {len(gate_set)} images are test images of "
            f"the current split (promote.min_gate_images = {minimum}). The data or the split "
            "changed: freeze a gate set for it on purpose with `catdog gate-set --replace`."
        )
    return usable[GATE_COLUMNS].reset_index(drop=True)
