"""Keep uncertain uploads to be labelled and fed back to training as a new source.

Each kept image goes to `<folder>/unlabelled/<sha256>.<ext>` with a JSON sidecar
`<sha256>.json` (the prediction, the model, when). Nothing is given the model's label: a person
moves each image into `<folder>/labelled/<class>/` (ingest reads labels from folder names), and
that folder becomes an ingest source. The cap counts what waits in `unlabelled/`, so labelling
frees room. Files are written to a temporary name and renamed, so a reader never sees half one.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from catdog_pipeline.core.errors import InputError

UNLABELLED = "unlabelled"
SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}


class UncertainCapture:
    """Store uncertain uploads under `folder` until `max_files` images or `max_bytes` wait."""

    def __init__(self, folder: Path, max_files: int, max_bytes: int, model: str = "") -> None:
        for name, value in (("max_files", max_files), ("max_bytes", max_bytes)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"serve.capture.{name} must be a positive integer, got {value!r}")
        self.folder = Path(folder) / UNLABELLED
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_files, self.max_bytes = max_files, max_bytes
        self.model = model
        self._lock = threading.Lock()
        images = [
            p
            for p in self.folder.iterdir()
            if p.is_file() and p.suffix != ".json" and not p.name.startswith(".")
        ]
        self.files = len(images)
        self.bytes = sum(p.stat().st_size for p in images)

    def offer(self, data: bytes, prediction: Mapping[str, Any]) -> tuple[bool, str]:
        """Keep `data` unless full or already kept: (kept, "captured" | "full" | "duplicate")."""
        sha = hashlib.sha256(data).hexdigest()
        image_path = self.folder / f"{sha}{_suffix(data)}"
        with self._lock:
            if image_path.exists():
                return False, "duplicate"
            if self.files + 1 > self.max_files or self.bytes + len(data) > self.max_bytes:
                return False, "full"
            self.files += 1
            self.bytes += len(data)
        sidecar = {
            "sha256": sha,
            "image": image_path.name,
            "prediction": dict(prediction),
            "model": self.model,
            "captured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _write_atomically(image_path.with_suffix(".json"), json.dumps(sidecar, indent=2).encode())
        _write_atomically(image_path, data)
        return True, "captured"


def _suffix(data: bytes) -> str:
    """The file suffix of the image format in `data`'s header (.img when unrecognised)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                return SUFFIXES.get(image.format or "", f".{(image.format or 'img').lower()}")
        except Exception:  # the service has decoded it already; this is only a name
            return ".img"


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".capture-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
