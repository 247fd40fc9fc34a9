"""A read-only dataset: a JSON file as it was committed, for comparing a run with the last one."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

logger = logging.getLogger(__name__)


class CommittedJSONDataset(AbstractDataset[None, dict | None]):
    """`filepath` as committed at git revision `rev`, read through DVC (git- or DVC-tracked).

    Loads None, with a log line, where there is no such revision or file (a fresh clone, a copy
    outside git, a file never committed): having no previous version is normal, not an error.
    """

    def __init__(
        self,
        filepath: str,
        rev: str = "HEAD",
        repo: str = ".",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = filepath
        self._rev = rev
        self._repo = repo
        self.metadata = metadata

    def load(self) -> dict | None:
        import dvc.api  # only the report stage needs DVC's API, and it is slow to import
        from dvc.exceptions import DvcException

        # Kedro makes catalog filepaths absolute; DVC wants them relative to the repository.
        repo = Path(self._repo).resolve()
        path = Path(os.path.relpath((repo / self._filepath).resolve(), repo))
        try:
            text = dvc.api.read(path.as_posix(), repo=self._repo, rev=self._rev)
        except (DvcException, FileNotFoundError) as exc:
            logger.info("No committed %s at %s: %s", self._filepath, self._rev, exc)
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"'{self._filepath}' at git revision {self._rev} is not valid JSON ({exc}): "
                "commit a well-formed file or remove it from that revision's history."
            ) from exc

    def save(self, data: None) -> None:
        raise DatasetError(f"'{self._filepath}' at {self._rev} is read-only: it is git history")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "rev": self._rev, "repo": self._repo}
