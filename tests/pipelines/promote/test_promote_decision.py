"""The champion/challenger decision and the gate set, on fabricated scores and tables."""

from __future__ import annotations

import pandas as pd
import pytest

from catdog_pipeline.pipelines.promote.gate import freeze_gate_set, select_gate_images
from catdog_pipeline.pipelines.promote.nodes import (
    FIRST,
    KEPT,
    PROMOTED,
    challenger_version,
    decide,
    promotion_record,
)

PARAMS = {
    "metric": "log_loss",
    "min_improvement": 0.01,
    "accuracy_tolerance": 0.02,
    "min_gate_images": 2,
}


def _decide(challenger, champion, metric="log_loss"):
    return decide(challenger, champion, metric, min_improvement=0.01, accuracy_tolerance=0.02)


def test_a_better_challenger_is_promoted():
    decision, reason = _decide(
        {"log_loss": 0.20, "accuracy": 0.90}, {"log_loss": 0.30, "accuracy": 0.90}
    )
    assert decision == PROMOTED
    assert "0.2000 vs 0.3000" in reason


def test_a_worse_challenger_is_not():
    assert (
        _decide({"log_loss": 0.35, "accuracy": 0.95}, {"log_loss": 0.30, "accuracy": 0.90})[0]
        == KEPT
    )


def test_a_tie_keeps_the_champion():
    scores = {"log_loss": 0.30, "accuracy": 0.90}
    assert _decide(scores, dict(scores))[0] == KEPT


def test_a_gain_within_the_margin_keeps_the_champion():
    assert (
        _decide({"log_loss": 0.295, "accuracy": 0.9}, {"log_loss": 0.30, "accuracy": 0.9})[0]
        == KEPT
    )


def test_better_log_loss_but_much_worse_accuracy_keeps_the_champion():
    decision, reason = _decide(
        {"log_loss": 0.1, "accuracy": 0.85}, {"log_loss": 0.3, "accuracy": 0.9}
    )
    assert decision == KEPT
    assert "accuracy falls by 0.0500" in reason


def test_a_small_accuracy_loss_within_tolerance_is_allowed():
    assert (
        _decide({"log_loss": 0.1, "accuracy": 0.89}, {"log_loss": 0.3, "accuracy": 0.9})[0]
        == PROMOTED
    )


def test_accuracy_as_the_metric_is_higher_is_better():
    champion = {"log_loss": 0.3, "accuracy": 0.90}
    assert _decide({"log_loss": 0.3, "accuracy": 0.95}, champion, "accuracy")[0] == PROMOTED
    assert _decide({"log_loss": 0.1, "accuracy": 0.85}, champion, "accuracy")[0] == KEPT


def test_no_champion_yet_promotes_the_first():
    assert _decide({"log_loss": 0.9, "accuracy": 0.5}, None)[0] == FIRST


def test_an_unknown_metric_is_refused():
    with pytest.raises(ValueError, match="promote.metric"):
        _decide({"f1": 1.0}, None, "f1")


VERSIONS = pd.DataFrame(
    {"version": ["1", "2", "3"], "run_id": ["a", "b", "c"], "training_run_id": ["a", "b", "b"]}
)


def test_the_challenger_is_the_newest_version_its_training_run_registered():
    assert challenger_version({"mlflow_run_id": "b"}, VERSIONS) == "3"
    with pytest.raises(ValueError, match="no registered version"):
        challenger_version({"mlflow_run_id": "zzz"}, VERSIONS)


def test_the_record_names_both_versions_their_scores_and_why():
    champion = {"version": "1", "scores": {"log_loss": 0.5, "accuracy": 0.8, "n_images": 4}}
    challenger = {"log_loss": 0.2, "accuracy": 0.9, "n_images": 4}

    record, same = promotion_record(challenger, champion, {"mlflow_run_id": "b"}, VERSIONS, PARAMS)

    assert record is same
    assert record["decision"] == PROMOTED
    assert record["metric"] == "log_loss"
    assert record["challenger"]["version"] == "3"
    assert record["challenger"]["scores"] == challenger
    assert record["champion"] == champion
    assert record["reason"]


def test_the_champion_judged_against_itself_stays():
    scores = {"log_loss": 0.2, "accuracy": 0.9, "n_images": 4}
    champion = {"version": "3", "scores": {**scores, "log_loss": 0.5}}
    record, _ = promotion_record(scores, champion, {"mlflow_run_id": "b"}, VERSIONS, PARAMS)
    assert record["decision"] == KEPT


def _split(rows):
    return pd.DataFrame(rows, columns=["image_path", "label", "split"])


def test_the_gate_set_is_frozen_once_and_grows_only_by_extension():
    first = _split([("a.jpg", "cat", "test"), ("b.jpg", "dog", "test"), ("c.jpg", "dog", "train")])
    gate = freeze_gate_set(first, None)
    assert list(gate["image_path"]) == ["a.jpg", "b.jpg"]

    later = _split([("a.jpg", "cat", "train"), ("b.jpg", "dog", "test"), ("d.jpg", "cat", "test")])
    extended = freeze_gate_set(later, gate)
    assert list(extended["image_path"]) == ["a.jpg", "b.jpg", "d.jpg"]


def test_gate_images_moved_into_training_do_not_count():
    gate = pd.DataFrame({"image_path": ["a.jpg", "b.jpg", "c.jpg"], "label": ["cat", "dog", "dog"]})
    split = _split([("a.jpg", "cat", "train"), ("b.jpg", "dog", "test"), ("c.jpg", "dog", "test")])

    usable = select_gate_images(gate, split, PARAMS)

    assert list(usable["image_path"]) == ["b.jpg", "c.jpg"]
    with pytest.raises(ValueError, match="Only 2 of the gate set's 3"):
        select_gate_images(gate, split, {**PARAMS, "min_gate_images": 3})


def test_a_gate_image_relabelled_since_stops_the_stage():
    gate = pd.DataFrame({"image_path": ["b.jpg"], "label": ["cat"]})
    with pytest.raises(ValueError, match="another label"):
        select_gate_images(gate, _split([("b.jpg", "dog", "test")]), PARAMS)
