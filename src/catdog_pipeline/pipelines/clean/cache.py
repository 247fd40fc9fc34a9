"""Clean's cache of per-file results: a file cleaned before is neither read nor decoded again.

An entry is keyed by the raw file's content (`file_sha256`, hashed once by ingest) and by a
fingerprint of everything else the result depends on: `image.size`, `image.resize_mode`,
`image.max_pixels`, `clean.min_side`, `clean.jpeg_quality`, the source code of the per-file
function (`normalize.py`, `images.py`) and the versions of the libraries that decode, hash
and encode (Pillow, imagehash, NumPy, SciPy). Changing any of them starts a new fingerprint
folder, so only what a change affects is redone: a new photo, or every photo after a new
`image.size`; `near_duplicate_distance` is not in it (duplicates are decided afresh each run).

`data/.clean_cache/<fingerprint>/<hh>/<file_sha256>` (CATDOG_CLEAN_CACHE_DIR moves the root;
not a DVC output, git-ignored, safe to delete) holds one line of JSON (key, manifest fields,
a sha256 of the fields and the JPEG), then the clean JPEG's bytes. Each entry is written to a
temporary name and renamed, so a reader sees a whole entry or none; an entry that does not
parse, names another key or fails its checksum is ignored, recomputed and overwritten, never
trusted.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from catdog_pipeline import images

from . import normalize
from .normalize import NormalizeSettings, image_path_of, write_once

logger = logging.getLogger(__name__)

CACHE_ENV = "CATDOG_CLEAN_CACHE_DIR"
DEFAULT_ROOT = Path("data") / ".clean_cache"
FORMAT = 1  # bump when the entry layout changes
LIBRARIES = ("pillow", "imagehash", "numpy", "scipy")
CODE = (normalize, images)
SHA256 = re.compile(r"[0-9a-f]{64}")
FIELDS = {
    "decoded": {
        "status",
        "reason",
        "detail",
        "width",
        "height",
        "mode",
        "format",
        "pixel_sha256",
        "phash",
        "image_path",
        "decode_warnings",
    },
    "quarantined": {"status", "reason", "detail", "decode_warnings"},
}


def settings_fingerprint(settings: NormalizeSettings) -> str:
    """sha256 of what a file's clean result depends on besides its bytes (not where it goes)."""
    described = {
        "format": FORMAT,
        "settings": {**asdict(settings), "output_dir": None},
        "code": {module.__name__: _file_sha256(module.__file__) for module in CODE},
        "libraries": {name: importlib.metadata.version(name) for name in LIBRARIES},
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


class CleanCache:
    """Per-file clean results under one settings fingerprint; see the module docstring."""

    def __init__(self, settings: NormalizeSettings, root: Path | None = None) -> None:
        self.fingerprint = settings_fingerprint(settings)
        root = root or Path(os.environ.get(CACHE_ENV) or DEFAULT_ROOT)
        self.folder = root / self.fingerprint[:16]
        self._writable = True

    def holds(self, file_sha256: str) -> bool:
        """Whether there is an entry for this content (sound or not: `load` tells)."""
        return self._entry(file_sha256).is_file()

    def load(self, file_sha256: str, output_dir: Path) -> dict[str, Any] | None:
        """The cached fields of the file with this content, its clean JPEG written into
        `output_dir`; None when there is no sound entry."""
        try:
            data = self._entry(file_sha256).read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            data = b""
        try:
            fields, jpeg = self._parse(data, file_sha256)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None
        if fields["status"] == "decoded":
            _place(output_dir / fields["image_path"], jpeg)
        return fields

    def store(self, file_sha256: str, fields: dict[str, Any], output_dir: Path) -> None:
        """Keep `fields` (and the clean JPEG they name in `output_dir`) for the next run.

        A cache that cannot be written (a full disk, no permission) costs speed, not the run:
        a warning, and nothing more is stored this run.
        """
        if not self._writable:
            return
        image_path = fields.get("image_path")
        jpeg = (output_dir / image_path).read_bytes() if image_path else b""
        header = {
            "key": self._key(file_sha256),
            "fields": fields,
            "sha256": _checksum(fields, jpeg),
        }
        entry = self._entry(file_sha256)
        try:
            write_once(entry, json.dumps(header).encode() + b"\n" + jpeg, replace=True)
        except OSError as error:
            self._writable = False
            logger.warning("Clean cache %s not written (%s); cleaning goes on", entry, error)

    def _entry(self, file_sha256: str) -> Path:
        if not SHA256.fullmatch(file_sha256):
            raise ValueError(f"not a sha256: {file_sha256!r}")
        return self.folder / file_sha256[:2] / file_sha256

    def _key(self, file_sha256: str) -> str:
        return f"{file_sha256}:{self.fingerprint}"

    def _parse(self, data: bytes, file_sha256: str) -> tuple[dict[str, Any], bytes]:
        """The fields and JPEG of a sound entry; ValueError (or the like) for anything else."""
        line, _, jpeg = data.partition(b"\n")
        header = json.loads(line)
        fields = header["fields"]
        if header["key"] != self._key(file_sha256) or set(fields) != FIELDS[fields["status"]]:
            raise ValueError("an entry of another file, settings or format")
        if _checksum(fields, jpeg) != header["sha256"]:
            raise ValueError("the fields or the JPEG do not match their checksum")
        if fields["status"] == "decoded":
            pixels = fields["pixel_sha256"]
            # the path is derived, never taken from the file: nothing is written elsewhere
            if not SHA256.fullmatch(pixels) or fields["image_path"] != image_path_of(pixels):
                raise ValueError("an image path that is not its pixels' hash")
            if not jpeg:
                raise ValueError("no JPEG")
        return fields, jpeg


def _checksum(fields: dict[str, Any], jpeg: bytes) -> str:
    """sha256 of an entry's fields and JPEG: a flipped bit anywhere in either is caught."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode() + b"\n" + jpeg).hexdigest()


def _place(target: Path, jpeg: bytes) -> None:
    """Put a cached clean JPEG into this run's own staging folder. Nothing reads that folder
    before it is saved whole, so no temporary name is needed; a file already there holds the
    same pixels (the name is their hash)."""
    try:
        out = target.open("xb")
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("xb")
    except FileExistsError:
        return
    with out:
        out.write(jpeg)


def _file_sha256(path: str | None) -> str:
    return hashlib.sha256(Path(str(path)).read_bytes()).hexdigest()
