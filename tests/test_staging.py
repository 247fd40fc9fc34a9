"""Staging folders live in the project, go when the run ends, and are cleared after a crash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from catdog_pipeline.datasets import staging_folder
from catdog_pipeline.processes import host_name
from catdog_pipeline.staging import STAGING_ENV, StagingHook, run_folder_name


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(finished.stdout)


def started_hook(project: Path) -> StagingHook:
    hook = StagingHook()
    hook.after_context_created(SimpleNamespace(project_path=project))
    hook.before_pipeline_run()
    return hook


def test_a_run_stages_inside_the_project_and_removes_its_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(STAGING_ENV, raising=False)
    hook = started_hook(tmp_path)
    own = tmp_path / "data/.staging" / run_folder_name(host_name(), os.getpid())
    staged = staging_folder("clean")
    assert staged.parent == own
    (staged / "half-written.jpg").write_bytes(b"\xff\xd8")

    hook.on_pipeline_error(error=ValueError("a failed stage"))

    assert not own.exists()
    assert STAGING_ENV not in os.environ


def test_a_killed_run_s_folder_is_removed_by_the_next_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(STAGING_ENV, str(tmp_path / "staging"))
    host = host_name()
    killed = tmp_path / "staging" / run_folder_name(host, dead_pid()) / "catdog-clean-x"
    running = tmp_path / "staging" / run_folder_name(host, os.getppid()) / "catdog-clean-y"
    elsewhere = tmp_path / "staging" / run_folder_name("another-host", dead_pid())
    for folder in (killed, running, elsewhere):
        folder.mkdir(parents=True)

    hook = started_hook(tmp_path)

    assert not killed.parent.exists()
    assert running.exists() and elsewhere.exists()  # a live process's, another machine's
    hook.after_pipeline_run()
    assert os.environ[STAGING_ENV] == str(tmp_path / "staging")  # the user's setting is back
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == sorted(
        [running.parent.name, elsewhere.name]
    )


@pytest.mark.slow
def test_a_failed_clean_leaves_nothing_behind(project_copy, tmp_path, monkeypatch) -> None:
    """80 text files named .jpg: clean says why it stops and leaves no staging folder."""
    photos = tmp_path / "photos"
    for index in range(80):
        path = photos / ("cat" if index % 2 else "dog") / f"{index}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"note {index}: the photo is on my phone")
    monkeypatch.delenv(STAGING_ENV)
    system_temp = tmp_path / "system-temp"
    system_temp.mkdir()

    done = subprocess.run(
        ["kedro", "run", "--pipeline", "data", "--params", f"ingest.source={photos}"],
        cwd=project_copy,
        env={**os.environ, "TMPDIR": str(system_temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )

    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stdout and "TypeError" not in done.stdout, done.stdout
    assert "No usable images" in done.stdout
    assert "80 quarantined as not_an_image" in done.stdout
    assert list((project_copy / "data/.staging").iterdir()) == []
    assert [p.name for p in system_temp.iterdir() if p.name.startswith("catdog-")] == []
