"""Each candidate's clean result: from the cache when its content was cleaned before, else
decoded on `clean.executor` (and then cached).

The cached results are read in a thread while the workers decode the new files, so the two
overlap: an increment costs about the larger of the two, not their sum. A cache entry that turns
out damaged is decoded afterwards like a new file.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from .cache import CleanCache
from .executors import map_files
from .normalize import NormalizeSettings, normalize_file

logger = logging.getLogger(__name__)

Fields = dict[str, Any]


def clean_results(
    raw_images: Path, candidates: pd.DataFrame, settings: NormalizeSettings, clean: Mapping
) -> dict[Hashable, Fields]:
    """The per-file fields of every row of `candidates` (`raw_path`, `file_sha256`), by index.

    Clean JPEGs go to `settings.output_dir`, the cached ones copied from the cache. A row
    without a content hash is always decoded and never cached.
    """
    output = Path(settings.output_dir)
    cache = CleanCache(settings)
    digests = candidates["file_sha256"]
    known = [
        index for index, digest in digests.items() if not pd.isna(digest) and cache.holds(digest)
    ]
    new = candidates.index.difference(known, sort=False)
    logger.info(
        "Clean: %d candidates from the cache (%s), %d to decode", len(known), cache.folder, len(new)
    )
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clean-cache") as reader:
        loading = reader.submit(_load, cache, digests[known], output)
        results = _decode(raw_images, candidates.loc[new], settings, clean, cache)
        loaded = loading.result()
    damaged = candidates.loc[[index for index in known if loaded[index] is None]]
    if len(damaged):
        logger.warning("Clean: %d damaged cache entries ignored, decoding again", len(damaged))
        results |= _decode(raw_images, damaged, settings, clean, cache)
    return {index: fields for index, fields in loaded.items() if fields is not None} | results


def _load(cache: CleanCache, digests: pd.Series, output: Path) -> dict[Hashable, Fields | None]:
    return {index: cache.load(digest, output) for index, digest in digests.items()}


def _decode(
    raw_images: Path,
    rows: pd.DataFrame,
    settings: NormalizeSettings,
    clean: Mapping,
    cache: CleanCache,
) -> dict[Hashable, Fields]:
    """Decode `rows` on the executor, caching each result as it comes back (so a run killed
    halfway keeps what it finished)."""
    files = [str(raw_images.absolute() / path) for path in rows["raw_path"]]
    results = {}
    decoded = map_files(partial(normalize_file, settings=settings), files, clean)
    for (index, digest), fields in zip(rows["file_sha256"].items(), decoded, strict=True):
        if not pd.isna(digest):
            cache.store(digest, fields, Path(settings.output_dir))
        results[index] = fields
    return results
