"""Each candidate's clean result: from the cache when its content was cleaned before, else
decoded on `clean.executor` (and then cached).

The cached results are read in a thread while the workers decode the new files, so the two
overlap: an increment costs about the larger of the two, not their sum. A cache entry that turns
out damaged is decoded afterwards like a new file. Results are gathered into tables of
RESULT_CHUNK rows as they come: a file's fields as a Python dict cost ~1 KB, as a table row
~0.3 KB, which is what memory grows by per photo.
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
DECODED_COLUMNS = {
    "detail": "string",
    "width": "Int64",
    "height": "Int64",
    "mode": "string",
    "format": "string",
    "pixel_sha256": "string",
    "phash": "string",
    "image_path": "string",
    "decode_warnings": "string",
}
# status and reason: the dtype pandas infers over all rows (clean_results), as from one list.
RESULT_COLUMNS = {"status": "object", "reason": "object", **DECODED_COLUMNS}
RESULT_CHUNK = 4096  # results held as dicts at most, before they become table rows


class ResultTable:
    """Per-file fields by candidate index, kept as tables of RESULT_COLUMNS."""

    def __init__(self) -> None:
        self._chunks: list[pd.DataFrame] = []
        self._pending: dict[Hashable, Fields] = {}

    def add(self, index: Hashable, fields: Fields) -> None:
        self._pending[index] = fields
        if len(self._pending) >= RESULT_CHUNK:
            self._flush()

    def _flush(self) -> None:
        chunk = pd.DataFrame.from_dict(self._pending, orient="index")
        self._chunks.append(chunk.reindex(columns=list(RESULT_COLUMNS)).astype(RESULT_COLUMNS))
        self._pending = {}

    def frame(self) -> pd.DataFrame:
        """Every result so far, one row per index."""
        if self._pending:
            self._flush()
        if not self._chunks:
            return pd.DataFrame(columns=list(RESULT_COLUMNS)).astype(RESULT_COLUMNS)
        return pd.concat(self._chunks)


def clean_results(
    raw_images: Path, candidates: pd.DataFrame, settings: NormalizeSettings, clean: Mapping
) -> pd.DataFrame:
    """The per-file fields (RESULT_COLUMNS) of every row of `candidates` (`raw_path`,
    `file_sha256`), one row each, indexed like `candidates` (in no particular order).

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
        cached, decoded = ResultTable(), ResultTable()
        loading = reader.submit(_load, cache, digests[known], output, cached)
        _decode(raw_images, candidates.loc[new], settings, clean, cache, decoded)
        damaged = loading.result()
    if damaged:
        logger.warning("Clean: %d damaged cache entries ignored, decoding again", len(damaged))
        _decode(raw_images, candidates.loc[damaged], settings, clean, cache, decoded)
    return pd.concat([cached.frame(), decoded.frame()]).infer_objects()


def _load(cache: CleanCache, digests: pd.Series, output: Path, results: ResultTable) -> list:
    """Add the cached results to `results`; return the indexes whose entries are damaged."""
    damaged = []
    for index, digest in digests.items():
        fields = cache.load(digest, output)
        if fields is None:
            damaged.append(index)
        else:
            results.add(index, fields)
    return damaged


def _decode(
    raw_images: Path,
    rows: pd.DataFrame,
    settings: NormalizeSettings,
    clean: Mapping,
    cache: CleanCache,
    results: ResultTable,
) -> None:
    """Decode `rows` on the executor into `results`, caching each result as it comes back (so
    a run killed halfway keeps what it finished)."""
    files = [str(raw_images.absolute() / path) for path in rows["raw_path"]]
    decoded = map_files(partial(normalize_file, settings=settings), files, clean)
    for (index, digest), fields in zip(rows["file_sha256"].items(), decoded, strict=True):
        if not pd.isna(digest):
            cache.store(digest, fields, Path(settings.output_dir))
        results.add(index, fields)
