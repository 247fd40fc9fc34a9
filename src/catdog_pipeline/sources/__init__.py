"""Fetch the raw dataset (Google Drive, HTTP(S) or a local path) and unpack archives safely."""

from catdog_pipeline.sources.archives import (
    ExtractionReport,
    RejectedEntry,
    is_archive,
    safe_extract,
)
from catdog_pipeline.sources.errors import DamagedFileError, SourceError
from catdog_pipeline.sources.fetch import fetch_source
from catdog_pipeline.sources.limits import Limits
from catdog_pipeline.sources.local import copy_folder
from catdog_pipeline.sources.redact import redact_url

__all__ = [
    "DamagedFileError",
    "ExtractionReport",
    "Limits",
    "RejectedEntry",
    "SourceError",
    "copy_folder",
    "fetch_source",
    "is_archive",
    "redact_url",
    "safe_extract",
]
