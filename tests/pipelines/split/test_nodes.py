"""Split: stratified, seeded, fractions honoured, leakage groups never straddle splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from catdog_pipeline.pipelines.split.nodes import (
    assign_splits,
    build_data_quality_report,
    dense_rank,
    in_manifest_order,
)

CLASSES = {"cat": ["cats"], "dog": ["dogs"]}
SPLIT = {"fractions": {"train": 0.8, "val": 0.1, "test": 0.1}, "seed": 7}


def manifest(cats: int, dogs: int, groups: dict[int, int] | None = None) -> pd.DataFrame:
    """Kept images; `groups` maps a row index to its duplicate group."""
    labels = ["cat"] * cats + ["dog"] * dogs
    rows = pd.DataFrame(
        {
            "original_path": [f"{label}/{i}.jpg" for i, label in enumerate(labels)],
            "image_path": [f"{i:02x}/{i}.jpg" for i in range(len(labels))],
            "label": labels,
            "status": "kept",
            "duplicate_group": -1,
        }
    )
    for index, group in (groups or {}).items():
        rows.loc[index, "duplicate_group"] = group
    return rows


def test_fractions_are_honoured_per_class() -> None:
    result = assign_splits(manifest(500, 300), CLASSES, SPLIT)
    counts = result.groupby(["label", "split"]).size()
    assert counts["cat"].to_dict() == {"train": 400, "val": 50, "test": 50}
    assert counts["dog"].to_dict() == {"train": 240, "val": 30, "test": 30}
    assert result["label_index"].tolist() == [0 if x == "cat" else 1 for x in result["label"]]


def test_same_seed_same_split_other_seed_other_split() -> None:
    rows = manifest(100, 100)
    first = assign_splits(rows, CLASSES, SPLIT)
    again = assign_splits(rows, CLASSES, SPLIT)
    other = assign_splits(rows, CLASSES, {**SPLIT, "seed": 8})
    pd.testing.assert_frame_equal(first, again)
    key = ["image_path", "split"]
    assert not first[key].sort_values("image_path").equals(other[key].sort_values("image_path"))


def test_a_group_never_straddles_two_splits() -> None:
    groups = {i: i // 5 for i in range(0, 60)}  # twelve groups of five cats
    result = assign_splits(manifest(100, 20, groups), CLASSES, SPLIT)
    grouped = result[result["group"].isin(range(12))]
    assert (grouped.groupby("group")["split"].nunique() == 1).all()
    assert result["group"].nunique() == 12 + 40 + 20


def test_only_kept_images_are_split() -> None:
    rows = manifest(20, 20)
    rows.loc[[0, 1, 2], "status"] = ["duplicate", "quarantined", "conflict"]
    assert len(assign_splits(rows, CLASSES, SPLIT)) == 37


@pytest.mark.parametrize(
    "fractions",
    [{"train": 0.8, "val": 0.1}, {"train": 0.8, "val": 0.3, "test": 0.1}],
)
def test_bad_fractions_name_the_parameter(fractions) -> None:
    with pytest.raises(ValueError, match=r"split\.fractions"):
        assign_splits(manifest(10, 10), CLASSES, {**SPLIT, "fractions": fractions})


def test_labels_outside_classes_are_refused() -> None:
    with pytest.raises(ValueError, match="classes"):
        assign_splits(manifest(10, 10), {"cat": []}, SPLIT)


def test_data_quality_report_adds_split_counts() -> None:
    split_manifest = assign_splits(manifest(100, 50), CLASSES, SPLIT)
    summary = {"kept": 150, "per_class": {"cat": {"kept": 100}, "dog": {"kept": 50}}}
    report = build_data_quality_report(summary, split_manifest, {"decisions": 0})
    assert report["splits"]["train"] == {"cat": 80, "dog": 40}
    assert report["splits"]["test"] == {"cat": 10, "dog": 5}
    assert report["per_class"]["dog"] == {"kept": 50, "train": 40, "val": 5, "test": 5}
    assert report["kept"] == 150


def test_manifest_order_is_pandas_sort_by_split_label_and_path() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "split": pd.Series(rng.choice(["train", "val", "test"], 500), dtype="str"),
            "label": pd.Series(rng.choice(["dog", "cat"], 500), dtype="str"),
            "image_path": pd.Series(  # ties too: a path may repeat across splits
                [f"{n:03d}/{n}.jpg" for n in rng.integers(0, 200, 500)], dtype="str"
            ),
            "row": np.arange(500),
        }
    )
    expected = frame.sort_values(["split", "label", "image_path"], kind="stable")
    ordered = in_manifest_order(frame)
    pd.testing.assert_frame_equal(ordered, expected.reset_index(drop=True))
    assert dense_rank(pd.Series(["b", "a", "b", "c"], dtype="str")).tolist() == [1, 0, 1, 2]
