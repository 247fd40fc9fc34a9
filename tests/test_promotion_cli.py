"""`catdog gate-set`: frozen the first time, changed only on purpose (`catdog promote` runs in
tests/pipelines/promote/test_promote_registry.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from catdog_pipeline.cli import cli
from catdog_pipeline.promotion_cli import GATE_SET, SPLIT_MANIFEST


def _write_split(project: Path, rows: list[tuple[str, str, str]]) -> None:
    path = project / SPLIT_MANIFEST
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["image_path", "label", "split"]).to_parquet(path)


def _gate_set(project: Path, *flags: str):
    return CliRunner().invoke(cli, ["gate-set", "--project", str(project), *flags])


def _frozen(project: Path) -> list[str]:
    return list(pd.read_csv(project / GATE_SET)["image_path"])


def test_the_gate_set_is_frozen_once_then_changes_only_on_purpose(tmp_path: Path) -> None:
    _write_split(
        tmp_path, [("b.jpg", "dog", "test"), ("a.jpg", "cat", "test"), ("c.jpg", "cat", "train")]
    )
    first = _gate_set(tmp_path)
    assert first.exit_code == 0, first.output
    assert _frozen(tmp_path) == ["a.jpg", "b.jpg"]

    _write_split(
        tmp_path, [("a.jpg", "cat", "test"), ("d.jpg", "dog", "test"), ("b.jpg", "dog", "val")]
    )
    again = _gate_set(tmp_path)
    assert again.exit_code == 1
    assert "changes only on purpose" in again.output
    assert _frozen(tmp_path) == ["a.jpg", "b.jpg"]

    assert _gate_set(tmp_path, "--extend").exit_code == 0
    assert _frozen(tmp_path) == ["a.jpg", "b.jpg", "d.jpg"]
    assert _gate_set(tmp_path, "--replace").exit_code == 0
    assert _frozen(tmp_path) == ["a.jpg", "d.jpg"]
    assert _gate_set(tmp_path, "--extend", "--replace").exit_code == 2


def test_without_a_split_there_is_nothing_to_freeze(tmp_path: Path) -> None:
    answer = _gate_set(tmp_path)
    assert answer.exit_code == 1
    assert "run the split stage first" in answer.output
