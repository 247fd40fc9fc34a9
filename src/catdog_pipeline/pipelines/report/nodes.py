"""Report: everything the earlier stages produced -> reports/report.html and report.md.

Each node builds one part of the report as plain data (tables, captions, `data:` URIs);
`html.py` renders them. TensorFlow, MLflow and matplotlib are imported inside the nodes that
need them: every `kedro run` imports this module through the pipeline registry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.model_card import card_classes
from catdog_pipeline.images import UnusableImage, prepare_image

from .gallery import jpeg_data_uri, most_confident, thumbnail

if TYPE_CHECKING:
    import keras

logger = logging.getLogger(__name__)


def _report_param(report: Mapping[str, Any], key: str, minimum: int = 0) -> int:
    value = report.get(key)
    if not isinstance(value, int) or value < minimum:
        raise InputError(f"params.yaml report.{key} must be an integer >= {minimum}, got {value!r}")
    return value


def summarise_data_quality(
    data_quality: Mapping[str, Any],
    image_manifest: pd.DataFrame,
    raw_images: Path,
    report: Mapping[str, Any],
    max_pixels: int,
) -> dict[str, Any]:
    """The data-quality section: headline counts, counts per status and reason, and thumbnails
    of quarantined and label-conflicting files (those that decode; the others are listed).
    """
    per_class = data_quality.get("per_class") or {}
    removed = image_manifest[image_manifest["status"] != "kept"]
    by_reason = (
        removed.fillna({"reason": "-"})
        .groupby(["status", "reason"], sort=True)
        .size()
        .reset_index(name="files")
    )
    limit = _report_param(report, "data_quality_thumbnails")
    size = _report_param(report, "thumbnail_size", 16)
    quarantined = image_manifest[image_manifest["status"] == "quarantined"]
    # Conflicting copies of one photo sit next to each other.
    conflicts = image_manifest[image_manifest["status"] == "conflict"].sort_values(
        ["duplicate_group", "label"], kind="stable"
    )
    return {
        "totals": {
            key: data_quality.get(key)
            for key in (
                "files_seen",
                "skipped_non_images",
                "rejected_archive_entries",
                "duplicates_removed",
                "label_conflicts",
                "kept",
            )
        },
        "quarantined": dict(data_quality.get("quarantined") or {}),
        "kept_per_class": {name: counts.get("kept") for name, counts in per_class.items()},
        "by_reason": by_reason.to_dict("records"),
        "quarantined_files": _file_thumbnails(quarantined, raw_images, limit, size, max_pixels),
        "conflicting_files": _file_thumbnails(conflicts, raw_images, limit, size, max_pixels),
    }


def _file_thumbnails(
    rows: pd.DataFrame, raw_images: Path, limit: int, size: int, max_pixels: int
) -> dict[str, Any]:
    """Thumbnails of up to `limit` raw files, plus the ones that would not decode."""
    shown, undecodable = [], []
    considered = rows.head(limit)
    for row in considered.itertuples(index=False):
        caption = {
            "path": row.original_path,
            "label": row.label,
            "reason": row.reason,
            "group": int(row.duplicate_group) if pd.notna(row.duplicate_group) else -1,
        }
        try:
            image = thumbnail(Path(raw_images) / str(row.raw_path), size, max_pixels=max_pixels)
        except (UnusableImage, OSError) as exc:
            undecodable.append({**caption, "error": str(exc)})
            continue
        shown.append({**caption, "uri": jpeg_data_uri(image)})
    return {
        "total": len(rows),
        "considered": len(considered),
        "shown": shown,
        "undecodable": undecodable,
    }


def count_split_sizes(split_manifest: pd.DataFrame, model_card: Mapping[str, Any]) -> dict:
    """Images per split and class, in split order train, val, test, with totals."""
    classes = list(card_classes(model_card))
    counts = pd.crosstab(split_manifest["split"], split_manifest["label"])
    order = [name for name in ("train", "val", "test") if name in counts.index]
    counts = counts.reindex(index=order, columns=classes, fill_value=0)
    rows = [
        {"split": split, "counts": [int(n) for n in counts.loc[split]], "total": int(total)}
        for split, total in counts.sum(axis=1).items()
    ]
    return {
        "classes": classes,
        "rows": rows,
        "class_totals": [int(n) for n in counts.sum(axis=0)],
        "total": int(counts.to_numpy().sum()),
    }


def draw_charts(
    training_history: pd.DataFrame,
    roc_points: pd.DataFrame,
    precision_recall_points: pd.DataFrame,
    evaluation_metrics: Mapping[str, Any],
    test_predictions: pd.DataFrame,
    model_card: Mapping[str, Any],
    report: Mapping[str, Any],
) -> dict[str, bytes]:
    """The report's charts as PNG bytes: training curves, confusion matrix, ROC,
    precision-recall (drawn as the evaluate stage draws them, core/plots.py) and calibration.
    """
    from catdog_pipeline.core.plots import (
        plot_confusion_matrix,
        plot_precision_recall,
        plot_roc,
        plot_training_curves,
    )

    from .charts import calibration_chart, png_bytes

    _, positive = card_classes(model_card)
    figures = {
        "training_curves": plot_training_curves(training_history),
        "confusion_matrix": plot_confusion_matrix(evaluation_metrics),
        "roc": plot_roc(roc_points, evaluation_metrics),
        "precision_recall": plot_precision_recall(precision_recall_points, evaluation_metrics),
        "calibration": calibration_chart(
            (test_predictions["label"] == positive).to_numpy(dtype=int),
            test_predictions["probability"].to_numpy(dtype=float),
            positive,
            _report_param(report, "calibration_bins", 2),
        ),
    }
    return {name: png_bytes(figure) for name, figure in figures.items()}


def _prediction_card(row: Any, uri: str) -> dict[str, Any]:
    """What a picture of a test image is captioned with."""
    return {
        "uri": uri,
        "path": row.original_path,
        "label": row.label,
        "predicted": row.predicted,
        "correct": bool(row.correct),
        "probability": float(row.probability),
    }


def build_misclassification_gallery(
    test_predictions: pd.DataFrame,
    clean_images: Path,
    model_card: Mapping[str, Any],
    report: Mapping[str, Any],
    max_pixels: int,
) -> dict[str, Any]:
    """Thumbnails of the most confidently wrong test images, worst first, with their captions."""
    _, positive = card_classes(model_card)
    count = _report_param(report, "gallery_size")
    size = _report_param(report, "thumbnail_size", 16)
    wrong = most_confident(test_predictions, count, positive, correct=False)
    cards = [
        _prediction_card(
            row,
            jpeg_data_uri(
                thumbnail(Path(clean_images) / row.image_path, size, max_pixels=max_pixels)
            ),
        )
        for row in wrong.itertuples(index=False)
    ]
    return {"wrong": int((~test_predictions["correct"].astype(bool)).sum()), "cards": cards}


def explain_with_gradcam(
    model: keras.Model,
    test_predictions: pd.DataFrame,
    clean_images: Path,
    model_card: Mapping[str, Any],
    report: Mapping[str, Any],
    max_pixels: int,
) -> dict[str, Any]:
    """Grad-CAM heatmaps over the most confidently right and wrong test images.

    Each heatmap shows the evidence for the class the model predicted.
    """
    from .gradcam import find_feature_layer, gradcam_heatmaps, overlay

    _, positive = card_classes(model_card)
    count = _report_param(report, "gradcam_examples")
    chosen = pd.concat(
        [
            most_confident(test_predictions, count, positive, correct=False),
            most_confident(test_predictions, count, positive, correct=True),
        ]
    )
    if chosen.empty:
        return {"layer": None, "cards": []}
    images = np.stack(
        [
            prepare_image(
                Path(clean_images) / path,
                size=model_card["image_size"],
                resize_mode=model_card["resize_mode"],
                max_pixels=max_pixels,
            )
            for path in chosen["image_path"]
        ]
    )
    targets = (chosen["predicted"] == positive).to_numpy(dtype=int)
    heatmaps = gradcam_heatmaps(model, images, targets)
    cards = [
        {
            **_prediction_card(row, jpeg_data_uri(image)),
            "overlay_uri": jpeg_data_uri(overlay(image, heatmap)),
            "evidence": bool(heatmap.max() > 0),
        }
        for row, image, heatmap in zip(
            chosen.itertuples(index=False), images, heatmaps, strict=True
        )
    ]
    return {"layer": find_feature_layer(model).name, "cards": cards}
