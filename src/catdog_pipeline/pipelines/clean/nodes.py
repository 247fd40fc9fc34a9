"""Clean: decode every candidate, quarantine the unusable, resize, and remove duplicates."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.datasets import staging_folder
from catdog_pipeline.images import RESIZE_MODES, SUPPORTED_FORMATS

from .duplicates import duplicate_groups, resolve_groups
from .incremental import DECODED_COLUMNS, clean_results
from .normalize import NormalizeSettings

logger = logging.getLogger(__name__)

CLASS_STATUSES = ("kept", "quarantined", "duplicate", "conflict")


def normalize_settings(output_dir: Path, image: Mapping, clean: Mapping) -> NormalizeSettings:
    """Check the `image` and `clean` parameters and bundle what the workers need."""
    size = tuple(int(side) for side in image["size"])
    if len(size) != 2 or min(size) < 8:
        raise InputError(f"image.size must be [height, width], each >= 8; got {image['size']}")
    if image["resize_mode"] not in RESIZE_MODES:
        raise InputError(
            f"image.resize_mode must be one of {RESIZE_MODES}, got {image['resize_mode']!r}"
        )
    if not 1 <= int(clean["jpeg_quality"]) <= 100:
        raise InputError(f"clean.jpeg_quality must be 1..100, got {clean['jpeg_quality']}")
    return NormalizeSettings(
        output_dir=str(Path(output_dir).absolute()),  # as every worker, on any host, sees it
        size=size,
        resize_mode=image["resize_mode"],
        max_pixels=int(image["max_pixels"]),
        min_side=int(clean["min_side"]),
        jpeg_quality=int(clean["jpeg_quality"]),
    )


def normalize_images(
    raw_images: Path, raw_inventory: pd.DataFrame, image: Mapping, clean: Mapping
) -> tuple[Path, pd.DataFrame]:
    """Decode every new candidate on `clean.executor`; write the usable ones as clean JPEGs.

    A candidate whose content (`file_sha256`) was cleaned before with the same settings comes
    from the cache (`cache.py`) without being read; only the others are decoded, and their
    results are cached. Returns the staging folder of clean images (saved as `clean_images`)
    and the inventory with each candidate's outcome: status `decoded` or `quarantined` (with
    its reason), original size, mode and format, pixel and perceptual hashes, clean image path.
    """
    staged = staging_folder("clean")
    settings = normalize_settings(staged, image, clean)
    candidates = raw_inventory.index[raw_inventory["status"] == "candidate"]
    frame = clean_results(raw_images, raw_inventory.loc[candidates], settings, clean)
    frame = frame.reindex(candidates)
    if not (frame["status"] == "decoded").any():
        shutil.rmtree(staged, ignore_errors=True)
        raise InputError(no_usable_images(raw_images, frame))
    inspected = raw_inventory.join(frame[list(DECODED_COLUMNS)]).astype(DECODED_COLUMNS)
    inspected.loc[candidates, ["status", "reason"]] = frame[["status", "reason"]]
    return staged, inspected


def no_usable_images(raw_images: Path, outcomes: pd.DataFrame) -> str:
    """Why clean stops when not one candidate decodes: the count for each quarantine reason."""
    if outcomes.empty:
        found = "ingest found no image files"
    else:
        counts = outcomes["reason"].value_counts()
        found = ", ".join(f"{n} quarantined as {reason}" for reason, n in counts.items())
    formats = ", ".join(sorted(SUPPORTED_FORMATS - {"MPO"}))
    return (
        f"No usable images in {raw_images}: {found}. Point params.yaml ingest.source at "
        f"{formats} photos; the clean stage's previous output is kept."
    )


def mark_duplicates(inspected: pd.DataFrame, clean: Mapping) -> pd.DataFrame:
    """Turn decoded rows into kept, duplicate or conflict rows: the image manifest.

    Images with equal pixels or perceptual hashes within `clean.near_duplicate_distance` bits
    form a group. A group whose members carry one label keeps its largest image; a group
    mixing labels is dropped whole as a label conflict.
    """
    started = time.perf_counter()
    manifest = inspected.copy()
    manifest["duplicate_group"] = -1
    decoded = manifest.index[manifest["status"] == "decoded"]
    manifest.loc[decoded, "status"] = "kept"
    frame = manifest.loc[decoded, ["pixel_sha256", "phash"]]
    components = duplicate_groups(
        frame["pixel_sha256"], frame["phash"], int(clean["near_duplicate_distance"])
    )
    shared = np.bincount(components)[components] > 1
    manifest.loc[decoded[shared], "duplicate_group"] = pd.factorize(components[shared])[0]
    if shared.any():
        members = manifest.loc[decoded[shared]]
        manifest.loc[members.index, ["status", "reason"]] = resolve_groups(members)
    manifest["duplicate_group"] = manifest["duplicate_group"].astype("int64")
    logger.info(
        "Duplicate search: %d decoded images, %d groups, %.2f s",
        len(frame),
        int(manifest["duplicate_group"].max() + 1),
        time.perf_counter() - started,
    )
    return manifest


def summarize_cleaning(image_manifest: pd.DataFrame) -> dict:
    """Counts for the data-quality report: by status, by reason, by class."""
    status = image_manifest["status"]

    def reasons(name: str) -> dict[str, int]:
        counts = image_manifest.loc[status == name, "reason"].value_counts()
        return {str(reason): int(n) for reason, n in sorted(counts.items())}

    per_class = {
        str(label): {
            "seen": int(len(rows)),
            **{name: int((rows["status"] == name).sum()) for name in CLASS_STATUSES},
        }
        for label, rows in image_manifest.dropna(subset=["label"]).groupby("label")
    }
    summary = {
        "files_seen": int(len(image_manifest)),
        "skipped_non_images": int((status == "skipped").sum()),
        "skipped": reasons("skipped"),
        "rejected_archive_entries": int((status == "rejected").sum()),
        "rejected": reasons("rejected"),
        "quarantined": reasons("quarantined"),
        "duplicates_removed": int((status == "duplicate").sum()),
        "duplicate_groups": int(image_manifest["duplicate_group"].max() + 1),
        "label_conflicts": int((status == "conflict").sum()),
        "kept": int((status == "kept").sum()),
        "per_class": per_class,
    }
    logger.info(
        "Clean: %(files_seen)d files, %(kept)d kept, %(duplicates_removed)d duplicates, "
        "%(label_conflicts)d in label conflicts",
        summary,
    )
    return summary
