"""Where a run's inputs came from: the git commit, the DVC hashes of the training data, and
the DVC experiment the run belongs to."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
from pathlib import Path

import yaml

from catdog_pipeline.catalog_paths import project_catalog_paths

logger = logging.getLogger(__name__)

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


def dvc_experiment() -> dict[str, str]:
    """`dvc.exp_name` and `dvc.exp_baseline` (the commit it branches from) inside `dvc exp run`.

    DVC sets DVC_EXP_NAME and DVC_EXP_BASELINE_REV for every stage of an experiment, queued or
    not; outside one there are no such tags.
    """
    tags = {
        "dvc.exp_name": os.environ.get("DVC_EXP_NAME"),
        "dvc.exp_baseline": os.environ.get("DVC_EXP_BASELINE_REV"),
    }
    return {name: value for name, value in tags.items() if value}


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
    # The catalog's paths are the ones dvc.yaml tracks (`catdog check` keeps them in step).
    paths = project_catalog_paths(project)
    locked = _locked_out_hashes(project / "dvc.lock")
    tags = {
        "dvc.split_manifest.md5": split_md5,
        "dvc.lock_matches_data": str(locked.get(paths["split_manifest"]) == split_md5).lower(),
    }
    if paths["clean_images"] in locked:
        tags["dvc.clean_images.md5"] = locked[paths["clean_images"]]
    return tags


def split_manifest_md5(project: Path) -> str | None:
    """The MD5 of the split manifest (DVC's hash of that file), or None while there is none."""
    split_file = project / project_catalog_paths(project)["split_manifest"]
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
