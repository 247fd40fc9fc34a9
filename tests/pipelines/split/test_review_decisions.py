"""The split stage applies the label review: relabel, exclude, counts, unmatched hashes named."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.label_review import LabelReview, ReviewDecision, content_hash
from catdog_pipeline.pipelines.split.nodes import assign_splits, build_data_quality_report
from catdog_pipeline.pipelines.split.review import apply_label_review

CLASSES = {"cat": ["cats"], "dog": ["dogs"]}
SPLIT = {"fractions": {"train": 0.8, "val": 0.1, "test": 0.1}, "seed": 7}
ABSENT = "f" * 64


def dealt(cats: int = 30, dogs: int = 30) -> pd.DataFrame:
    """Kept images named by fake pixel hashes, dealt into splits."""
    labels = ["cat"] * cats + ["dog"] * dogs
    hashes = [f"{index:064x}" for index in range(len(labels))]
    manifest = pd.DataFrame(
        {
            "original_path": [f"{label}/{i}.jpg" for i, label in enumerate(labels)],
            "image_path": [f"{sha[:2]}/{sha}.jpg" for sha in hashes],
            "label": labels,
            "status": "kept",
            "duplicate_group": -1,
        }
    )
    return assign_splits(manifest, CLASSES, SPLIT)


def review_of(*decisions: ReviewDecision) -> LabelReview:
    return LabelReview("conf/base/label_review.yml", decisions)


def row_of(table: pd.DataFrame, sha: str) -> pd.Series:
    return table[table["image_path"].map(content_hash) == sha].iloc[0]


def test_relabel_and_exclude_change_only_their_photos() -> None:
    before = dealt()
    cat, dog, kept, pending = (
        content_hash(path) for path in before["image_path"].iloc[[0, 1, 2, 3]]
    )
    assert row_of(before, cat)["label"] == "cat"

    after, counts = apply_label_review(
        before,
        review_of(
            ReviewDecision(cat, "relabel", "dog"),
            ReviewDecision(dog, "exclude"),
            ReviewDecision(kept, "keep"),
            ReviewDecision(pending, "pending"),
        ),
        CLASSES,
    )

    relabelled = row_of(after, cat)
    assert (relabelled["label"], relabelled["label_index"]) == ("dog", 1)
    assert relabelled["split"] == row_of(before, cat)["split"]
    assert dog not in set(after["image_path"].map(content_hash))
    assert len(after) == len(before) - 1
    untouched = before[~before["image_path"].map(content_hash).isin([cat, dog])]
    merged = untouched.merge(after, on="image_path", suffixes=("", "_after"))
    assert len(merged) == len(untouched)
    assert (merged["split"] == merged["split_after"]).all()
    assert (merged["label"] == merged["label_after"]).all()
    assert counts == {
        "decisions": 4,
        "relabelled": 1,
        "excluded": 1,
        "confirmed": 1,
        "pending": 1,
        "unmatched": 0,
    }


def test_no_decisions_change_nothing() -> None:
    before = dealt()

    after, counts = apply_label_review(before, review_of(), CLASSES)

    pd.testing.assert_frame_equal(after, before)
    assert counts["decisions"] == counts["relabelled"] == counts["excluded"] == 0


def test_a_relabel_to_the_label_it_has_is_a_confirmation() -> None:
    before = dealt()
    cat = content_hash(before[before["label"] == "cat"]["image_path"].iloc[0])

    after, counts = apply_label_review(
        before, review_of(ReviewDecision(cat, "relabel", "cat")), CLASSES
    )

    pd.testing.assert_frame_equal(after, before)
    assert (counts["relabelled"], counts["confirmed"]) == (0, 1)


def test_a_hash_that_matches_no_kept_image_is_counted_and_named(caplog) -> None:
    before = dealt()

    with caplog.at_level(logging.WARNING):
        after, counts = apply_label_review(
            before, review_of(ReviewDecision(ABSENT, "exclude")), CLASSES
        )

    assert counts["unmatched"] == 1
    assert len(after) == len(before)
    assert "1 decision(s) in conf/base/label_review.yml match no kept image" in caplog.text
    assert ABSENT[:12] in caplog.text


def test_a_relabel_to_an_unknown_class_stops_the_split() -> None:
    before = dealt()
    sha = content_hash(before["image_path"].iloc[0])

    with pytest.raises(InputError, match="entry 1 .*'fox'"):
        apply_label_review(before, review_of(ReviewDecision(sha, "relabel", "fox")), CLASSES)


def test_the_data_quality_report_counts_what_the_review_changed() -> None:
    before = dealt(20, 10)
    cat = content_hash(before[before["label"] == "cat"]["image_path"].iloc[0])
    after, counts = apply_label_review(
        before,
        review_of(ReviewDecision(cat, "relabel", "dog"), ReviewDecision(ABSENT, "keep")),
        CLASSES,
    )
    summary = {"kept": 30, "per_class": {"cat": {"kept": 20}, "dog": {"kept": 10}}}

    report = build_data_quality_report(summary, after, counts)

    assert report["label_review"]["relabelled"] == 1
    assert report["label_review"]["unmatched"] == 1
    assert sum(report["splits"][name]["dog"] for name in ("train", "val", "test")) == 11
