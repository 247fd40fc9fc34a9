"""A throwaway copy of the project (code, config, DVC files; no data) and its own caches."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def project_files() -> list[str]:
    """The project's files as git sees them: tracked, plus untracked ones it does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name})


def copy_project(destination: Path) -> Path:
    """Copy the project (code, config, DVC files; no data, no venv) into a fresh git repo."""
    for name in project_files():
        source = PROJECT_ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=destination, check=True)
    subprocess.run([*git, "add", "-A"], cwd=destination, check=True)
    subprocess.run([*git, "commit", "-qm", "project copy"], cwd=destination, check=True)
    return destination


def isolated_variables(scratch: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Environment variables that send downloads, staging folders and MLflow runs into
    `scratch`, away from the user's, and put the tests' venv first on `environ`'s PATH."""
    return {
        "CATDOG_CACHE_DIR": str(scratch / "download-cache"),
        "CATDOG_STAGING_DIR": str(scratch / "staging"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{environ['PATH']}",
    }


def isolate_environment(monkeypatch: pytest.MonkeyPatch, scratch: Path) -> None:
    """`isolated_variables` set for the test."""
    for name, value in isolated_variables(scratch).items():
        monkeypatch.setenv(name, value)
