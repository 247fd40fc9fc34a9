"""`catdog review`: the audit's open suspects become pending entries; decisions stay as written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from tests.catalog import PROJECT_ROOT, copy_catalog

from catdog_pipeline.catalog_paths import dataset_path
from catdog_pipeline.cli import cli
from catdog_pipeline.core.label_review import HEADER, read_label_review

SHA = [letter * 64 for letter in "abcdef"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project with the catalog (datasets moved), params.yaml and a label audit of 6 photos."""
    copy_catalog(tmp_path, moved_under="moved")
    shutil.copy(PROJECT_ROOT / "params.yaml", tmp_path / "params.yaml")
    audit = pd.DataFrame(
        {
            "sha256": SHA,
            "original_path": [f"PetImages/Cat/{index}.jpg" for index in range(6)],
            "label": "cat",
            "suggested_label": ["dog", "dog", "dog", "cat", "cat", "cat"],
            "label_quality": [0.01, 0.02, 0.03, 0.6, 0.8, 0.9],
            "outlier_score": [0.5, 0.5, 0.5, 0.4, 0.05, 0.6],
        }
    )
    path = dataset_path("label_audit", tmp_path)
    path.parent.mkdir(parents=True)
    audit.to_csv(path, index=False)
    return tmp_path


def _review(project: Path, *arguments: str):
    return CliRunner().invoke(cli, ["review", "--project", str(project), *arguments])


def test_suspects_are_added_as_pending_and_decisions_are_kept(project: Path) -> None:
    review_file = dataset_path("label_review", project)
    review_file.parent.mkdir(parents=True, exist_ok=True)
    written = HEADER + f"- sha256: {SHA[0]}\n  decision: keep  # a ginger cat, sure\n"
    review_file.write_text(written)

    added = _review(project, "--suspects", "2", "--outliers", "1")

    assert added.exit_code == 0, added.output
    text = review_file.read_text()
    assert text.startswith(written)
    decisions = read_label_review(review_file).decisions
    assert [(d.sha256, d.decision) for d in decisions] == [
        (SHA[0], "keep"),
        (SHA[1], "pending"),
        (SHA[2], "pending"),
        (SHA[4], "pending"),
    ]
    assert "labelled cat, suggested dog, label quality 0.020" in added.output
    assert "unusual photo, labelled cat, suggested cat" in added.output
    assert "3 pending entries added, 3 pending in all" in added.output

    again = _review(project, "--suspects", "2", "--outliers", "1")

    assert again.exit_code == 0, again.output
    assert "0 pending entries added, 3 pending in all" in again.output
    assert read_label_review(review_file).decisions == decisions


def test_the_counts_default_to_params_and_a_new_file_is_started(project: Path) -> None:
    added = _review(project)

    assert added.exit_code == 0, added.output
    review_file = dataset_path("label_review", project)
    assert review_file.read_text().startswith(HEADER)
    assert len(read_label_review(review_file).decisions) == 6  # audit.suspects is above 6


def test_without_an_audit_it_says_what_to_run(project: Path) -> None:
    dataset_path("label_audit", project).unlink()

    missing = _review(project)

    assert missing.exit_code == 1
    assert "run the audit first (`dvc repro audit`)" in missing.output


def test_a_broken_review_file_is_named_and_left_alone(project: Path) -> None:
    review_file = dataset_path("label_review", project)
    review_file.parent.mkdir(parents=True, exist_ok=True)
    review_file.write_text(f"- sha256: {SHA[0]}\n  decision: maybe\n")

    refused = _review(project)

    assert refused.exit_code == 1
    assert (
        "label_review.yml, entry 1" in refused.output
        and "unknown decision 'maybe'" in refused.output
    )
    assert review_file.read_text() == f"- sha256: {SHA[0]}\n  decision: maybe\n"
