"""Where each source of `ingest.source` goes in data/01_raw/images, so sources never collide."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from catdog_pipeline.sources import redact_url


def planned_sources(ingest: Mapping) -> list[tuple[str, str, str | None]]:
    """(folder under raw_images, source, expected sha256) for each source of `ingest.source`.

    One source (a string) is laid out in raw_images itself, as it always was; a list gives each
    source the folder `source_folders` names, paired with its entry of `ingest.sha256` (a list
    as long as the sources, or null for none).
    """
    source = ingest["source"]
    if isinstance(source, str):
        return [("", source.strip(), ingest.get("sha256"))]
    sources = [str(item).strip() for item in source]
    checksums = ingest.get("sha256") or [None] * len(sources)
    folders = source_folders(sources)
    return list(zip(folders, sources, checksums, strict=True))


def source_folders(sources: Sequence[str]) -> list[str]:
    """A folder name per source of a list: `<its file or folder name>-<8 hex of its hash>`.

    Named by the source itself, not by its position, so adding, removing or reordering sources
    leaves the others' paths unchanged; the hash suffix keeps two `labelled` folders apart.
    Labels come from the path inside a source, so this name never changes one.
    """
    folders = []
    for source in sources:
        shown = redact_url(source)
        parts = urlsplit(shown)
        name = PurePosixPath(parts.path).name or parts.netloc
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:40].strip("._") or "source"
        folders.append(f"{slug}-{hashlib.sha256(shown.encode()).hexdigest()[:8]}")
    return folders


def files_under(root: Path) -> list[str]:
    """Relative POSIX paths of the files below `root`, in the order of `sorted(root.rglob("*"))`
    (component by component), as plain strings: a Path object per file costs ~0.3 KB."""
    found = []
    for folder, _, names in os.walk(root):
        prefix = Path(folder).relative_to(root).as_posix()
        found += [
            name if prefix == "." else f"{prefix}/{name}"
            for name in names
            if os.path.isfile(os.path.join(folder, name))
        ]
    return sorted(found, key=lambda path: path.replace("/", "\0"))
