"""Where a run's inputs came from: the git commit and the DVC hashes of the training data."""

from __future__ import annotations

import hashlib
import logging
import subprocess
from pathlib import Path

import yaml

logger = logging.getLogger(__name__)

# The training data as dvc.yaml tracks it (the same paths as conf/base/catalog.yml).
SPLIT_MANIFEST_PATH = "data/03_primary/split.parquet"
CLEAN_IMAGES_PATH = "data/02_intermediate/images"
# Files the pipeline itself rewrites: changes there do not make the code differ from the commit.
GIT_OUTPUT_PATHSPECS = (":(exclude)dvc.lock", ":(exclude)reports", ":(exclude,glob)**/.gitignore")


def git_state(project: Path) -> dict[str, str]:
    """`git.commit` and `git.dirty` (code or config differ from the commit); empty outside git."""
    try:
        commit = _git(project, "rev-parse", "HEAD")
        changes = _git(project, "status", "--porcelain", "--", ".", *GIT_OUTPUT_PATHSPECS)
    except (OSError, subprocess.CalledProcessError):
        logger.warning("%s is not a git checkout with a commit: no git tags on the run", project)
        return {}
    return {"git.commit": commit, "git.dirty": str(bool(changes)).lower()}


def _git(project: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


def dvc_data_hashes(project: Path) -> dict[str, str]:
    """The DVC hashes of the training data, as tags.

    `dvc.split_manifest.md5` is computed from the file (DVC's hash of a file is its MD5);
    `dvc.clean_images.md5` is the folder's hash in dvc.lock, and `dvc.lock_matches_data` says
    whether dvc.lock records this very split manifest (false after a `kedro run` on data that
    `dvc repro` has not locked yet).
    """
    split_md5 = split_manifest_md5(project)
    if split_md5 is None:
        return {}
    locked = _locked_out_hashes(project / "dvc.lock")
    tags = {
        "dvc.split_manifest.md5": split_md5,
        "dvc.lock_matches_data": str(locked.get(SPLIT_MANIFEST_PATH) == split_md5).lower(),
    }
    if CLEAN_IMAGES_PATH in locked:
        tags["dvc.clean_images.md5"] = locked[CLEAN_IMAGES_PATH]
    return tags


def split_manifest_md5(project: Path) -> str | None:
    """The MD5 of the split manifest (DVC's hash of that file), or None while there is none."""
    split_file = project / SPLIT_MANIFEST_PATH
    return hashlib.md5(split_file.read_bytes()).hexdigest() if split_file.is_file() else None


def _locked_out_hashes(lock_file: Path) -> dict[str, str]:
    """path -> md5 of every stage output recorded in dvc.lock (empty if there is none)."""
    if not lock_file.is_file():
        return {}
    stages = (yaml.safe_load(lock_file.read_text()) or {}).get("stages", {})
    return {
        out["path"]: out["md5"]
        for stage in stages.values()
        for out in stage.get("outs", [])
        if "md5" in out
    }
