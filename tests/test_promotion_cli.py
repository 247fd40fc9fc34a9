"""`catdog gate-set`: frozen the first time, changed only on purpose (`catdog promote` runs in
tests/pipelines/promote/test_promote_registry.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from tests.catalog import copy_catalog

from catdog_pipeline.catalog_paths import dataset_path
from catdog_pipeline.cli import cli


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose catalog keeps every dataset under moved/: the command follows it."""
    return copy_catalog(tmp_path, moved_under="moved")


def _write_split(project: Path, rows: list[tuple[str, str, str]]) -> None:
    path = dataset_path("split_manifest", project)
    assert path.is_relative_to(project / "moved")
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["image_path", "label", "split"]).to_parquet(path)


def _gate_set(project: Path, *flags: str):
    return CliRunner().invoke(cli, ["gate-set", "--project", str(project), *flags])


def _frozen(project: Path) -> list[str]:
    return list(pd.read_csv(dataset_path("gate_set", project))["image_path"])


def test_the_gate_set_is_frozen_once_then_changes_only_on_purpose(project: Path) -> None:
    _write_split(
        project, [("b.jpg", "dog", "test"), ("a.jpg", "cat", "test"), ("c.jpg", "cat", "train")]
    )
    first = _gate_set(project)
    assert first.exit_code == 0, first.output
    assert _frozen(project) == ["a.jpg", "b.jpg"]

    _write_split(
        project, [("a.jpg", "cat", "test"), ("d.jpg", "dog", "test"), ("b.jpg", "dog", "val")]
    )
    again = _gate_set(project)
    assert again.exit_code == 1
    assert "changes only on purpose" in again.output
    assert _frozen(project) == ["a.jpg", "b.jpg"]

    assert _gate_set(project, "--extend").exit_code == 0
    assert _frozen(project) == ["a.jpg", "b.jpg", "d.jpg"]
    assert _gate_set(project, "--replace").exit_code == 0
    assert _frozen(project) == ["a.jpg", "d.jpg"]
    assert _gate_set(project, "--extend", "--replace").exit_code == 2


def test_without_a_split_there_is_nothing_to_freeze(project: Path) -> None:
    answer = _gate_set(project)
    assert answer.exit_code == 1
    assert "run the split stage first" in answer.output


def test_outside_a_project_the_command_says_where_to_run_it(tmp_path: Path) -> None:
    answer = _gate_set(tmp_path)
    assert answer.exit_code == 1
    assert "run this from the project's root" in answer.output
