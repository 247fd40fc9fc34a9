"""Fetch the raw dataset (Google Drive, HTTP(S) or a local path) and unpack archives safely."""

from catdog_pipeline.sources.archives import (
    ExtractionReport,
    RejectedEntry,
    is_archive,
    safe_extract,
)
from catdog_pipeline.sources.errors import SourceError
from catdog_pipeline.sources.fetch import fetch_source

__all__ = [
    "ExtractionReport",
    "RejectedEntry",
    "SourceError",
    "fetch_source",
    "is_archive",
    "safe_extract",
]
