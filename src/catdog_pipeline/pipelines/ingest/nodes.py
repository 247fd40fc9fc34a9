"""Ingest: bring the source into data/01_raw and list what it holds, file by file."""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path, PurePosixPath

import pandas as pd

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.datasets import staging_folder
from catdog_pipeline.images import IMAGE_SUFFIXES
from catdog_pipeline.sources import (
    Limits,
    RejectedEntry,
    SourceError,
    copy_folder,
    fetch_source,
    is_archive,
    safe_extract,
)

logger = logging.getLogger(__name__)

SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "icon\r"})
SYSTEM_FOLDERS = frozenset({"__macosx", ".git", ".svn", "@eadir"})
INVENTORY_COLUMNS = ("original_path", "raw_path", "label", "status", "reason", "bytes")


def download_cache_dir() -> Path:
    """Where downloads are cached between runs: $CATDOG_CACHE_DIR or ~/.cache/catdog-pipeline."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "catdog-pipeline"
    return Path(os.environ.get("CATDOG_CACHE_DIR", default))


def fetch_raw_images(
    ingest: Mapping, classes: Mapping[str, Iterable[str]]
) -> tuple[Path, pd.DataFrame]:
    """Fetch `ingest.source` and lay it out in a staging folder (archives extracted safely).

    Returns the staging folder (saved as `raw_images`) and the entries that were rejected as
    unsafe, one row each (original_path, reason). The layout is checked first (a readable
    archive holding at least one labelled image of every class), so a bad source raises
    before anything replaces the previous data; a damaged download is dropped from the cache.
    """
    limits = Limits(
        max_bytes=int(ingest["max_download_bytes"]), timeout_s=float(ingest["download_timeout_s"])
    )
    lay_out = partial(
        _lay_out, max_total_bytes=int(ingest["max_uncompressed_bytes"]), classes=classes
    )
    staged, rejected = fetch_source(
        str(ingest["source"]),
        sha256=ingest.get("sha256"),
        cache_dir=download_cache_dir(),
        limits=limits,
        use=lay_out,
    )
    if rejected:
        logger.warning(
            "Rejected %d source entries (never written; see the inventory)", len(rejected)
        )
    return staged, pd.DataFrame(
        [(entry.name, entry.reason) for entry in rejected], columns=["original_path", "reason"]
    )


def _lay_out(
    local: Path, name: str, *, max_total_bytes: int, classes: Mapping[str, Iterable[str]]
) -> tuple[Path, Sequence[RejectedEntry]]:
    """Copy or extract `local` (described as `name`) into a new staging folder and check it;
    the staging folder is deleted if anything fails."""
    staged = staging_folder("ingest")
    try:
        if local.is_dir():
            rejected: Sequence[RejectedEntry] = copy_folder(local, staged)
        elif skip_reason(local.name) is None and not is_archive(local):
            shutil.copy2(local, staged / local.name)  # a single image is a (tiny) dataset too
            rejected = ()
        else:
            report = safe_extract(local, staged, max_total_bytes=max_total_bytes, name=name)
            rejected = report.rejected
        _check_labelled(staged, classes, name, len(rejected))
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return staged, rejected


def _check_labelled(
    staged: Path, classes: Mapping[str, Iterable[str]], name: str, rejected: int
) -> None:
    """Raise SourceError unless `staged` holds a labelled image of every class."""
    files = [p.relative_to(staged).as_posix() for p in staged.rglob("*") if p.is_file()]
    rows = [inventory_row(path, 0, classes) for path in files]
    found = Counter(row["label"] for row in rows if row["status"] == "candidate")
    missing = [label for label in classes if not found[label]]
    if not missing:
        return
    counts = ", ".join(f"{found[label]} {label}" for label in classes)
    raise SourceError(
        f"{name} holds no labelled image of {' or '.join(missing)} ({len(files)} files: "
        f"{counts}; {rejected} entries rejected), so nothing was replaced. Images must sit in "
        f"folders or have file names that name a class ({', '.join(classes)}, or the words "
        "listed for it): check `ingest.source` and `classes` in params.yaml."
    )


def label_for(relative_path: str, classes: Mapping[str, Iterable[str]]) -> str | None:
    """The class a path names: its deepest folder that is a class word, else its file name.

    Folder-per-class at any depth (`PetImages/Cat/1.jpg`, `train/dogs/x.jpg`) and Kaggle's flat
    names (`cat.123.jpg`, `dog_7.png`) are recognised, case-insensitively.
    """
    words = {word.lower(): name for name, aliases in classes.items() for word in (name, *aliases)}
    path = PurePosixPath(relative_path)
    for folder in reversed(path.parts[:-1]):
        if folder.lower() in words:
            return words[folder.lower()]
    first_word = path.stem.lower().replace("_", ".").replace("-", ".").replace(" ", ".")
    return words.get(first_word.split(".")[0])


def skip_reason(relative_path: str) -> str | None:
    """Why a file is not a candidate image (`system_file`, `not_an_image_file`), or None."""
    path = PurePosixPath(relative_path)
    name = path.name.lower()
    if (
        name in SYSTEM_FILES
        or name.startswith("._")
        or SYSTEM_FOLDERS & {part.lower() for part in path.parts[:-1]}
    ):
        return "system_file"
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return "not_an_image_file"
    return None


def inventory_row(relative_path: str, size: int, classes: Mapping[str, Iterable[str]]) -> dict:
    """One inventory row for a file found in the source."""
    label = label_for(relative_path, classes)
    reason = skip_reason(relative_path) or (None if label else "unlabelled")
    return {
        "original_path": relative_path,
        "raw_path": relative_path,
        "label": label,
        "status": "skipped" if reason else "candidate",
        "reason": reason,
        "bytes": size,
    }


def build_raw_inventory(
    raw_images: Path, rejected_entries: pd.DataFrame, classes: Mapping[str, Iterable[str]]
) -> pd.DataFrame:
    """List every file in `raw_images` (candidate or skipped) and every rejected entry."""
    rows = [
        inventory_row(path.relative_to(raw_images).as_posix(), path.stat().st_size, classes)
        for path in sorted(raw_images.rglob("*"))
        if path.is_file()
    ]
    rows += [
        {
            "original_path": entry.original_path,
            "raw_path": None,
            "label": None,
            "status": "rejected",
            "reason": entry.reason,
            "bytes": 0,
        }
        for entry in rejected_entries.itertuples()
    ]
    inventory = pd.DataFrame(rows, columns=list(INVENTORY_COLUMNS))
    counts = inventory["status"].value_counts().to_dict()
    logger.info("Inventory: %s", ", ".join(f"{n} {status}" for status, n in counts.items()))
    if not counts.get("candidate"):
        raise InputError(
            f"No labelled images found in {raw_images}: expected folders or file names that "
            f"name a class ({', '.join(classes)}); check `ingest.source` and `classes`."
        )
    return inventory.astype({"bytes": "int64"})
