"""A project folder holding only the project's catalog, optionally with every dataset moved."""

from __future__ import annotations

import re
from pathlib import Path

from tests.project_copy import PROJECT_ROOT

# `filepath: data/...` / `path: reports/...`: the place each dataset lives.
LOCATION = re.compile(r"^(\s+(?:file)?path:\s+)(\S+)", re.MULTILINE)


def copy_catalog(project: Path, moved_under: str | None = None) -> Path:
    """Copy conf/base/catalog*.yml into `project`; with `moved_under`, every path moves there."""
    base = project / "conf" / "base"
    base.mkdir(parents=True, exist_ok=True)
    for catalog in sorted((PROJECT_ROOT / "conf" / "base").glob("catalog*.yml")):
        text = catalog.read_text()
        if moved_under:
            text = LOCATION.sub(lambda match: f"{match[1]}{moved_under}/{match[2]}", text)
        (base / catalog.name).write_text(text)
    return project
