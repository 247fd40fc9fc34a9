"""Where `kedro run` builds its output folders: inside the project, removed even after a crash.

Nodes build folder outputs in `datasets.staging_folder`, under CATDOG_STAGING_DIR. For each
pipeline run `StagingHook` points that variable at a folder of its own,
`data/.staging/run-<host>-<pid>/` (or under CATDOG_STAGING_DIR when the user set it): on the
data's own file system, so `ImageFolderDataset` swaps outputs into place with a rename, and
never in the system temp folder, where a killed stage's gigabytes would outlive it. The
folder is removed when the run ends or fails; after a `kill -9`, the next run removes it,
having checked that the process named in it is gone (a folder of another host is left alone).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from catdog_pipeline.processes import host_name, process_alive

logger = logging.getLogger(__name__)

STAGING_ENV = "CATDOG_STAGING_DIR"
PROJECT_STAGING = Path("data") / ".staging"
PREFIX = "run-"


def run_folder_name(host: str, pid: int) -> str:
    """The staging folder of process `pid` on `host`: `run-<host>-<pid>`."""
    return f"{PREFIX}{host}-{pid}"


def remove_abandoned(root: Path, host: str) -> list[Path]:
    """Remove the run folders in `root` left by processes of `host` that are gone."""
    removed = []
    for folder in sorted(root.glob(f"{PREFIX}{host}-*")):
        pid = folder.name.rsplit("-", 1)[1]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class StagingHook:
    """Give each pipeline run its own staging folder in the project; clear abandoned ones."""

    def __init__(self) -> None:
        self._project: Path | None = None
        self._folder: Path | None = None
        self._previous: str | None = None

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        self._project = Path(context.project_path)

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Remove abandoned run folders, then point CATDOG_STAGING_DIR at this run's own."""
        self._previous = os.environ.get(STAGING_ENV)
        root = Path(self._previous) if self._previous else self._project / PROJECT_STAGING
        host = host_name()
        for folder in remove_abandoned(root, host):
            logger.info("Removed %s, left by a stage that was killed", folder)
        self._folder = root / run_folder_name(host, os.getpid())
        self._folder.mkdir(parents=True, exist_ok=True)
        os.environ[STAGING_ENV] = str(self._folder)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._finish()

    @hook_impl
    def on_pipeline_error(self, **_: Any) -> None:
        self._finish()

    def _finish(self) -> None:
        """Remove this run's staging folder and restore CATDOG_STAGING_DIR."""
        if self._folder is None:
            return
        shutil.rmtree(self._folder, ignore_errors=True)
        if self._previous is None:
            os.environ.pop(STAGING_ENV, None)
        else:
            os.environ[STAGING_ENV] = self._previous
        self._folder = None
