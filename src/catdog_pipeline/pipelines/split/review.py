"""The label review's decisions applied to the split: relabel, exclude, and count what changed.

They are applied after the splits are dealt, so a decision changes its own photo only: every
other photo keeps its split, and the test set (and the frozen gate set) survive a review.
A relabelled photo stays in its split with the new label; an excluded one leaves the split.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from catdog_pipeline.core.label_review import LabelReview, content_hash

from .nodes import in_manifest_order

logger = logging.getLogger(__name__)
COUNTED = ("decisions", "relabelled", "excluded", "confirmed", "pending", "unmatched")
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
    decided = {entry.sha256: entry for entry in label_review.decisions}
    if not decided:  # nothing to apply: the dealt splits as they are, not another copy
        return assigned, dict.fromkeys(COUNTED, 0)
    hashes = assigned["image_path"].map(content_hash)
    action = hashes.map({sha: entry.decision for sha, entry in decided.items()}).to_numpy(
        dtype=object, na_value="none"
    )
    new_label = hashes.map({sha: entry.new_label for sha, entry in decided.items()})
    relabelled = (action == "relabel") & (new_label != assigned["label"]).to_numpy(
        dtype=bool, na_value=False
    )
    excluded = action == "exclude"
    matched = set(hashes[action != "none"])
    unmatched = [sha for sha in decided if sha not in matched]
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
    logger.info("Label review %s: %s", label_review.source, counts)
    reviewed = assigned[~excluded]
    if not relabelled.any():  # excluding rows keeps the order
        return reviewed.reset_index(drop=True), counts
    reviewed.loc[relabelled[~excluded], "label"] = new_label[relabelled].to_numpy()
    reviewed["label_index"] = reviewed["label"].map(class_names.index).astype("int64")
    return in_manifest_order(reviewed), counts
