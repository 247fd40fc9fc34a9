"""The "labels to review" section: the audit's top suspects that nobody has decided on yet."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.label_review import LabelReview, open_suspects

from .gallery import jpeg_data_uri, thumbnail

DECIDED = ("keep", "relabel")  # excluded photos are not in the audit at all


def build_label_suspects(
    label_audit: pd.DataFrame,
    label_review: LabelReview,
    clean_images: Path,
    suspects: int,
    outliers: int,
    report: Mapping[str, Any],
    max_pixels: int,
) -> dict[str, Any]:
    """Thumbnails of the `suspects` photos with the lowest label quality and the `outliers`
    most unusual ones, leaving out those the review file decides (keep, relabel); pending ones
    are shown and marked."""
    if suspects < 0 or outliers < 0:
        raise InputError(f"audit.suspects and audit.outliers must be >= 0: {suspects}, {outliers}")
    decisions = {entry.sha256: entry.decision for entry in label_review.decisions}
    worst, unusual = open_suspects(label_audit, label_review, suspects, outliers)
    size = int(report["thumbnail_size"])

    def cards(rows: pd.DataFrame) -> list[dict[str, Any]]:
        return [
            {
                "uri": jpeg_data_uri(
                    thumbnail(Path(clean_images) / row.image_path, size, max_pixels=max_pixels)
                ),
                "path": row.original_path,
                "sha256": row.sha256,
                "label": row.label,
                "suggested": row.suggested_label,
                "label_quality": float(row.label_quality),
                "outlier_score": float(row.outlier_score),
                "pending": decisions.get(row.sha256) == "pending",
            }
            for row in rows.itertuples(index=False)
        ]

    return {
        "photos": len(label_audit),
        "flagged": int(label_audit["label_issue"].astype(bool).sum()),
        "disagreeing": int((label_audit["suggested_label"] != label_audit["label"]).sum()),
        "decided": sum(decisions.get(sha) in DECIDED for sha in label_audit["sha256"]),
        "suspects": cards(worst),
        "outliers": cards(unusual),
    }
