"""Clean from folders ingested as the pipeline does, with the clean cache isolated per test."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import pytest

from catdog_pipeline.pipelines.clean.nodes import mark_duplicates, normalize_images
from catdog_pipeline.pipelines.ingest.nodes import build_raw_inventory, fetch_raw_images

CLASSES = {"cat": ["cats"], "dog": ["dogs"]}
IMAGE = {"size": [32, 32], "resize_mode": "pad", "max_pixels": 1_000_000}
CLEAN = {
    "min_side": 16,
    "near_duplicate_distance": 4,
    "jpeg_quality": 95,
    "workers": 1,
    "executor": "processes",
    "dask_scheduler": None,
}
INGEST = {
    "sha256": None,
    "max_uncompressed_bytes": 10**8,
    "max_download_bytes": 10**8,
    "download_timeout_s": 30,
}


@pytest.fixture
def ingested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple]:
    """ingested(sources) -> (raw folder, inventory): what `kedro run --pipeline ingest` makes."""
    monkeypatch.setenv("CATDOG_CACHE_DIR", str(tmp_path / "download-cache"))
    monkeypatch.setenv("CATDOG_STAGING_DIR", str(tmp_path / "staging"))

    def ingest(sources: Sequence[Path] | Path) -> tuple[Path, pd.DataFrame]:
        source = str(sources) if isinstance(sources, Path) else [str(s) for s in sources]
        params = {"source": source, **INGEST}
        raw, rejected = fetch_raw_images(params, CLASSES)
        return raw, build_raw_inventory(raw, rejected, params, CLASSES)

    return ingest


def clean(
    raw: Path, inventory: pd.DataFrame, image: dict = IMAGE, **clean_params
) -> tuple[Path, pd.DataFrame]:
    """The clean stage's two data nodes: (clean images folder, manifest)."""
    settings = {**CLEAN, **clean_params}
    staged, inspected = normalize_images(raw, inventory, image, settings)
    return staged, mark_duplicates(inspected, settings)


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` by relative path: to compare two outputs bit for bit."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
