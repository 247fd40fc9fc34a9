"""The label review file: what it may hold, clear errors naming file and entry, safe appends."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.label_review import (
    HEADER,
    LabelReview,
    ReviewDecision,
    append_pending,
    open_suspects,
    parse_label_review,
    read_label_review,
)

SHA = ["a" * 64, "b" * 64, "c" * 64, "d" * 64]
SOURCE = "conf/base/label_review.yml"


def test_every_decision_is_read_and_comments_only_mean_no_decisions(tmp_path) -> None:
    path = tmp_path / "label_review.yml"
    path.write_text(
        HEADER
        + f"- sha256: {SHA[0].upper()}\n  decision: keep\n  note: checked, a cat\n"
        + f"- sha256: {SHA[1]}\n  decision: exclude\n"
        + f"- sha256: {SHA[2]}\n  decision: {{relabel: dog}}\n"
        + f"- sha256: {SHA[3]}\n  decision:\n    relabel: cat\n  original_path: x/1.jpg\n"
    )

    review = read_label_review(path)

    assert review.decisions == (
        ReviewDecision(SHA[0], "keep"),
        ReviewDecision(SHA[1], "exclude"),
        ReviewDecision(SHA[2], "relabel", "dog"),
        ReviewDecision(SHA[3], "relabel", "cat"),
    )
    path.write_text(HEADER)
    assert read_label_review(path).decisions == ()
    assert read_label_review(tmp_path / "absent.yml").decisions == ()


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"sha256": SHA[0]}, "must be a YAML list of entries"),
        ([f"{SHA[0]}: keep"], "entry 1 must be a mapping with sha256 and decision"),
        ([{"sha256": SHA[0][:-1], "decision": "keep"}], "entry 1: sha256 'aaa"),
        ([{"sha256": ["a"], "decision": "keep"}], "entry 1: sha256 ['a'] is not 64 hexadecimal"),
        ([{"sha256": int("1" * 64), "decision": "keep"}], "read as a number: put it in quotes"),
        ([{"sha256": "g" * 64, "decision": "keep"}], "is not 64 hexadecimal digits"),
        ([{"sha256": SHA[0], "decision": "delete"}], "entry 1 (sha256 aaaaaaaaaaaa…): unknown"),
        ([{"sha256": SHA[0], "decision": "relabel"}], "unknown decision 'relabel'"),
        ([{"sha256": SHA[0], "decision": {"relabel": ""}}], "unknown decision {'relabel': ''}"),
        ([{"sha256": SHA[0], "decision": "keep", "decison": 1}], "unknown key(s) ['decison']"),
        (
            [{"sha256": SHA[0], "decision": "keep"}, {"sha256": SHA[0], "decision": "exclude"}],
            "entry 2: sha256 aaaaaaaaaaaa… is already decided in entry 1",
        ),
    ],
)
def test_a_bad_entry_is_refused_naming_the_file_and_entry(document, expected) -> None:
    with pytest.raises(InputError) as refused:
        parse_label_review(document, SOURCE)

    assert SOURCE in str(refused.value)
    assert expected in str(refused.value)


def test_a_relabel_to_an_unknown_class_names_the_entry_and_the_classes() -> None:
    review = parse_label_review(
        [
            {"sha256": SHA[0], "decision": "keep"},
            {"sha256": SHA[1], "decision": {"relabel": "fox"}},
        ],
        SOURCE,
    )

    with pytest.raises(InputError, match=r"label_review\.yml, entry 2 .*'fox'.*\['cat', 'dog'\]"):
        review.check_classes(["cat", "dog"])


def test_a_file_that_is_not_yaml_is_refused_by_name(tmp_path) -> None:
    path = tmp_path / "label_review.yml"
    path.write_text("- sha256: [unclosed\n")

    with pytest.raises(InputError, match="label_review.yml is not valid YAML"):
        read_label_review(path)


SUSPECTS = [
    {
        "sha256": SHA[2],
        "original_path": "Cat/9: odd #name.jpg",
        "audit": "labelled cat, suggested dog",
    },
    {"sha256": SHA[3], "original_path": "Dog/4.jpg", "audit": "unusual photo"},
]


def test_appending_keeps_what_the_file_holds_byte_for_byte(tmp_path) -> None:
    path = tmp_path / "label_review.yml"
    written = HEADER + f"# my own comment\n- sha256: {SHA[0]}\n  decision: keep  # sure\n"
    path.write_text(written)

    review = append_pending(path, SUSPECTS)

    text = path.read_text()
    assert text.startswith(written)
    assert [entry.decision for entry in review.decisions] == ["keep", "pending", "pending"]
    entries = yaml.safe_load(text)
    assert entries[1] == {"sha256": SHA[2], "decision": "pending", **SUSPECTS[0]}
    assert "  decision: pending  # pending | keep | exclude | {relabel: <class>}\n" in text
    assert [p.name for p in tmp_path.iterdir()] == ["label_review.yml"]  # no temporary left


def test_appending_to_a_missing_file_starts_it_with_the_explanation(tmp_path) -> None:
    path = tmp_path / "conf" / "label_review.yml"

    append_pending(path, SUSPECTS[:1])

    assert path.read_text().startswith(HEADER)
    assert read_label_review(path).decisions == (ReviewDecision(SHA[2], "pending"),)


def test_a_file_written_as_a_flow_list_is_not_appended_to(tmp_path) -> None:
    path = tmp_path / "label_review.yml"
    path.write_text(f"[{{sha256: {SHA[0]}, decision: keep}}]\n")

    with pytest.raises(InputError, match="Cannot append to .*label_review.yml"):
        append_pending(path, SUSPECTS)
    assert path.read_text() == f"[{{sha256: {SHA[0]}, decision: keep}}]\n"


def test_open_suspects_skip_decided_photos_but_not_pending_ones() -> None:
    audit = pd.DataFrame(
        {
            "sha256": SHA,
            "label_quality": [0.1, 0.2, 0.3, 0.9],
            "outlier_score": [0.5, 0.5, 0.5, 0.1],
        }
    )
    review = LabelReview(
        SOURCE, (ReviewDecision(SHA[0], "keep"), ReviewDecision(SHA[1], "pending"))
    )

    worst, unusual = open_suspects(audit, review, suspects=2, outliers=1)

    assert worst["sha256"].tolist() == [SHA[1], SHA[2]]
    assert unusual["sha256"].tolist() == [SHA[3]]


def test_a_hash_of_digits_only_is_written_so_it_reads_back_as_text(tmp_path) -> None:
    path = tmp_path / "label_review.yml"
    digits = "1234567890" * 6 + "1234"

    append_pending(path, [{"sha256": digits, "original_path": "0755", "audit": "yes"}])

    assert read_label_review(path).decisions == (ReviewDecision(digits, "pending"),)
    assert yaml.safe_load(path.read_text())[0]["original_path"] == "0755"


def test_the_catalog_dataset_names_the_file_from_the_project_root(tmp_path, monkeypatch) -> None:
    from kedro.io import DatasetError

    from catdog_pipeline.core.label_review import LabelReviewDataset

    monkeypatch.chdir(tmp_path)
    dataset = LabelReviewDataset(str(tmp_path / SOURCE))  # Kedro passes absolute paths

    assert dataset.load() == LabelReview(SOURCE, ())  # no file yet: no decisions
    (tmp_path / SOURCE).parent.mkdir(parents=True)
    (tmp_path / SOURCE).write_text(f"- sha256: {SHA[0]}\n  decision: maybe\n")
    with pytest.raises(DatasetError) as refused:  # Kedro wraps what the dataset raises
        dataset.load()
    assert isinstance(refused.value.__cause__, InputError)
    assert str(refused.value.__cause__).startswith("conf/base/label_review.yml, entry 1")
    with pytest.raises(DatasetError, match="written by people"):
        dataset.save(LabelReview(SOURCE, ()))
