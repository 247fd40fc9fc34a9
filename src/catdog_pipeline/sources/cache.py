"""Download cache: `cache_dir/<key>/` holds one payload (file or directory) and `meta.json`.

`meta.json` is written last, atomically, so an entry without it is never taken as complete.
"""

import hashlib
import json
import os
import tempfile
from pathlib import Path

META_NAME = "meta.json"


def entry_dir(cache_dir: Path, source: str) -> Path:
    """The cache entry of `source`: `cache_dir/<first 16 hex digits of sha256(source)>`."""
    return Path(cache_dir) / hashlib.sha256(source.encode()).hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """Hex sha256 of the file at `path`, read in blocks."""
    with Path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def lookup(entry: Path, source: str, sha256: str | None) -> Path | None:
    """The completed payload of `entry` for `source`, else None.

    With `sha256`, a cached file is re-hashed; on mismatch the entry is invalidated.
    """
    meta = _read_meta(entry)
    if meta is None or meta.get("source") != source:
        return None
    payload = entry / meta["filename"]
    if not payload.exists():
        return None
    if sha256 and payload.is_file() and file_sha256(payload) != sha256:
        (entry / META_NAME).unlink()
        payload.unlink()
        return None
    return payload


def commit(entry: Path, source: str, payload: Path, sha256: str | None) -> Path:
    """Mark `payload` (a child of `entry`) as the completed download of `source`."""
    meta = {"source": source, "filename": payload.name, "sha256": sha256}
    fd, tmp = tempfile.mkstemp(dir=entry, prefix=f".{META_NAME}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(meta, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, entry / META_NAME)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return payload


def _read_meta(entry: Path) -> dict | None:
    try:
        meta = json.loads((entry / META_NAME).read_text())
    except (OSError, ValueError):
        return None
    name = meta.get("filename") if isinstance(meta, dict) else None
    return meta if isinstance(name, str) and name and Path(name).name == name else None
