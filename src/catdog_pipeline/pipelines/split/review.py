"""The label review's decisions applied to the split: relabel, exclude, and count what changed.

They are applied after the splits are dealt, so a decision changes its own photo only: every
other photo keeps its split, and the test set (and the frozen gate set) survive a review.
A relabelled photo stays in its split with the new label; an excluded one leaves the split.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from catdog_pipeline.core.label_review import LabelReview, ReviewDecision, content_hash

logger = logging.getLogger(__name__)
NO_DECISION = ReviewDecision(sha256="", decision="none")
UNMATCHED_LISTED = 5  # hashes named in the warning; all are counted


def apply_label_review(
    assigned: pd.DataFrame, label_review: LabelReview, classes: Mapping
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The split manifest with the review's decisions applied, and their counts.

    Counts: `decisions` (entries in the file), `relabelled` and `excluded` (images changed),
    `confirmed` (`keep`, or a relabel to the label the photo has), `pending`, and `unmatched`
    (entries whose photo is not among the kept images: not in the data, quarantined, or a
    duplicate clean dropped), each unmatched entry also named in a warning.
    """
    class_names = list(classes)
    label_review.check_classes(class_names)
    hashes = [content_hash(path) for path in assigned["image_path"]]
    decided = {entry.sha256: entry for entry in label_review.decisions}
    found = [decided.get(sha, NO_DECISION) for sha in hashes]
    action = np.array([entry.decision for entry in found])
    new_label = np.array([entry.new_label or "" for entry in found])
    relabelled = (action == "relabel") & (new_label != assigned["label"].to_numpy(dtype=str))
    excluded = action == "exclude"
    present = set(hashes)
    unmatched = [sha for sha in decided if sha not in present]
    counts = {
        "decisions": len(label_review.decisions),
        "relabelled": int(relabelled.sum()),
        "excluded": int(excluded.sum()),
        "confirmed": int(((action == "keep") | ((action == "relabel") & ~relabelled)).sum()),
        "pending": int((action == "pending").sum()),
        "unmatched": len(unmatched),
    }
    if unmatched:
        logger.warning(
            "%d decision(s) in %s match no kept image (sha256 %s%s): the photo is no longer in "
            "the data, was quarantined, or is a duplicate clean dropped. Delete the entries "
            "or check the hashes.",
            len(unmatched),
            label_review.source,
            ", ".join(sha[:12] + "…" for sha in unmatched[:UNMATCHED_LISTED]),
            ", ..." if len(unmatched) > UNMATCHED_LISTED else "",
        )
    reviewed = assigned.copy()
    reviewed.loc[relabelled, "label"] = new_label[relabelled]
    reviewed = reviewed[~excluded]
    reviewed["label_index"] = reviewed["label"].map(class_names.index).astype("int64")
    if label_review.decisions:
        logger.info("Label review %s: %s", label_review.source, counts)
    ordered = reviewed.sort_values(["split", "label", "image_path"])
    return ordered.reset_index(drop=True), counts
