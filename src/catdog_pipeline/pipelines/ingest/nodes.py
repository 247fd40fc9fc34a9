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
    redact_url,
    safe_extract,
)
from catdog_pipeline.sources.cache import file_sha256

from .layout import files_under, planned_sources

logger = logging.getLogger(__name__)

SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "icon\r"})
SYSTEM_FOLDERS = frozenset({"__macosx", ".git", ".svn", "@eadir"})
INVENTORY_COLUMNS = (
    "original_path",
    "raw_path",
    "source",
    "label",
    "status",
    "reason",
    "bytes",
    "file_sha256",
)


def download_cache_dir() -> Path:
    """Where downloads are cached between runs: $CATDOG_CACHE_DIR or ~/.cache/catdog-pipeline."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "catdog-pipeline"
    return Path(os.environ.get("CATDOG_CACHE_DIR", default))


def fetch_raw_images(
    ingest: Mapping, classes: Mapping[str, Iterable[str]]
) -> tuple[Path, pd.DataFrame]:
    """Fetch every source of `ingest.source` and lay them out in one staging folder.

    A single source fills the folder itself; each source of a list gets its own subfolder
    (`source_folders`), so files of different sources never collide. Archives are extracted
    safely. Returns the staging folder (saved as `raw_images`) and the entries rejected as
    unsafe, one row each (source, original_path, reason). Every source is checked first (a
    readable archive holding labelled images; together, every class), so a bad source raises
    before anything replaces the previous data; a damaged download is dropped from the cache.
    """
    limits = Limits(
        max_bytes=int(ingest["max_download_bytes"]), timeout_s=float(ingest["download_timeout_s"])
    )
    planned = planned_sources(ingest)
    staged = staging_folder("ingest")
    rejected_rows = []
    try:
        for folder, source, sha256 in planned:
            lay_out = partial(
                _lay_out,
                target=staged / folder,
                max_total_bytes=_bytes_left(staged, int(ingest["max_uncompressed_bytes"]), source),
                classes=classes,
                every_class=len(planned) == 1,
            )
            rejected = fetch_source(
                source, sha256=sha256, cache_dir=download_cache_dir(), limits=limits, use=lay_out
            )
            rejected_rows += [(redact_url(source), entry.name, entry.reason) for entry in rejected]
        if len(planned) > 1:
            names = ", ".join(redact_url(source) for _, source, _ in planned)
            _check_labelled(
                staged,
                classes,
                f"The sources together ({names})",
                every_class=True,
                rejected=len(rejected_rows),
            )
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    if rejected_rows:
        logger.warning(
            "Rejected %d source entries (never written; see the inventory)", len(rejected_rows)
        )
    return staged, pd.DataFrame(rejected_rows, columns=["source", "original_path", "reason"])


def _bytes_left(staged: Path, cap: int, source: str) -> int:
    """What is left of `ingest.max_uncompressed_bytes` for `source` after the sources before it;
    SourceError when they used it all."""
    used = sum(path.stat().st_size for path in staged.rglob("*") if path.is_file())
    if used >= cap:
        raise SourceError(
            f"The sources before {redact_url(source)} already hold {used} bytes, the limit "
            f"ingest.max_uncompressed_bytes ({cap}) of all sources together, so nothing was "
            "replaced. Raise it in params.yaml if so much data is expected."
        )
    return cap - used


def _lay_out(
    local: Path,
    name: str,
    *,
    target: Path,
    max_total_bytes: int,
    classes: Mapping[str, Iterable[str]],
    every_class: bool,
) -> Sequence[RejectedEntry]:
    """Copy or extract `local` (described as `name`) into `target` (created) and check it; what
    was written is deleted if anything fails."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        if local.is_dir():
            rejected: Sequence[RejectedEntry] = copy_folder(local, target)
        elif skip_reason(local.name) is None and not is_archive(local):
            shutil.copy2(local, target / local.name)  # a single image is a (tiny) dataset too
            rejected = ()
        else:
            report = safe_extract(local, target, max_total_bytes=max_total_bytes, name=name)
            rejected = report.rejected
        _check_labelled(target, classes, name, every_class=every_class, rejected=len(rejected))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return rejected


def _check_labelled(
    staged: Path,
    classes: Mapping[str, Iterable[str]],
    name: str,
    *,
    every_class: bool,
    rejected: int = 0,
) -> None:
    """Raise SourceError unless `staged` holds a labelled image of every class (`every_class`)
    or, for one source of several (which may bring photos of one class only), of any class."""
    files = files_under(staged)
    found = Counter(
        row["label"]
        for row in (inventory_row(path, 0, classes) for path in files)
        if row["status"] == "candidate"
    )
    if every_class:
        missing = [label for label in classes if not found[label]]
    else:
        missing = [] if found else list(classes)
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
    """One inventory row for a file found in a source (its source and hash not filled in)."""
    label = label_for(relative_path, classes)
    reason = skip_reason(relative_path) or (None if label else "unlabelled")
    return {
        "original_path": relative_path,
        "raw_path": relative_path,
        "source": None,
        "label": label,
        "status": "skipped" if reason else "candidate",
        "reason": reason,
        "bytes": size,
        "file_sha256": None,
    }


def build_raw_inventory(
    raw_images: Path,
    rejected_entries: pd.DataFrame,
    ingest: Mapping,
    classes: Mapping[str, Iterable[str]],
) -> pd.DataFrame:
    """List every file in `raw_images` (candidate or skipped) and every rejected entry.

    Each row names its source (credentials hidden) and its path inside that source; labels
    come from that path, never from the folder a source was laid out in. Every candidate's
    bytes are hashed (`file_sha256`): clean's cache is keyed by it, so clean never reads a
    file it has seen before.
    """
    columns: dict[str, list] = {name: [] for name in INVENTORY_COLUMNS}  # not a dict per row

    def add(row: Mapping) -> None:
        for name, values in columns.items():
            values.append(row[name])

    for folder, source, _ in planned_sources(ingest):
        root, shown = raw_images / folder, redact_url(source)
        for relative in files_under(root):
            path = root / relative
            row = inventory_row(relative, path.stat().st_size, classes)
            row["raw_path"] = path.relative_to(raw_images).as_posix()
            row["source"] = shown
            if row["status"] == "candidate":
                row["file_sha256"] = file_sha256(path)
            add(row)
    for entry in rejected_entries.itertuples():
        add(
            {
                "original_path": entry.original_path,
                "raw_path": None,
                "source": entry.source,
                "label": None,
                "status": "rejected",
                "reason": entry.reason,
                "bytes": 0,
                "file_sha256": None,
            }
        )
    inventory = pd.DataFrame(columns)
    counts = inventory["status"].value_counts().to_dict()
    logger.info("Inventory: %s", ", ".join(f"{n} {status}" for status, n in counts.items()))
    if not counts.get("candidate"):
        raise InputError(
            f"No labelled images found in {raw_images}: expected folders or file names that "
            f"name a class ({', '.join(classes)}); check `ingest.source` and `classes`."
        )
    return inventory.astype({"bytes": "int64"})
