"""The promote pipeline against a real (SQLite) MLflow registry with tiny registered models."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from click.testing import CliRunner
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from tests.registry import gate_images, register

from catdog_pipeline.cli import cli
from catdog_pipeline.pipelines.promote import create_pipeline
from catdog_pipeline.pipelines.promote.registry import (
    ChampionAliasDataset,
    ChampionModelDataset,
    RegisteredVersionsDataset,
    alias_history,
    alias_version,
)

PROMOTE = {
    "metric": "log_loss",
    "min_improvement": 0.005,
    "accuracy_tolerance": 0.01,
    "min_gate_images": 4,
}


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)  # set_experiment exports it
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("catdog")
    yield uri
    mlflow.set_tracking_uri(None)


def promote(challenger, card, split, clean_images: Path, out: Path) -> dict:
    """Run the promote pipeline for one registered challenger; its promotion record."""
    gate = split[["image_path", "label"]]
    catalog = DataCatalog(
        {
            "gate_set": MemoryDataset(gate),
            "split_manifest": MemoryDataset(split),
            "clean_images": MemoryDataset(clean_images, copy_mode="assign"),
            "model": MemoryDataset(challenger, copy_mode="assign"),
            "model_card": MemoryDataset(card),
            "params:promote": MemoryDataset(PROMOTE),
            "params:evaluate.threshold": MemoryDataset(0.5),
            "registered_versions": RegisteredVersionsDataset("catdog"),
            "champion_model": ChampionModelDataset("catdog", "champion"),
            "champion_alias": ChampionAliasDataset("catdog", "champion"),
            "promotion": JSONDataset(filepath=str(out)),
        }
    )
    SequentialRunner().run(create_pipeline(), catalog)
    return json.loads(out.read_text())


def test_the_alias_moves_only_to_a_better_model_and_its_moves_are_kept(registry, tmp_path):
    split = gate_images(tmp_path / "images")
    client = mlflow.MlflowClient()
    timid, timid_card, v_timid = register(1.0)  # right answers, unsure
    sure, sure_card, v_sure = register(3.0)  # the same answers, surer: lower log loss
    wrong, wrong_card, v_wrong = register(-3.0)

    first = promote(timid, timid_card, split, tmp_path / "images", tmp_path / "p1.json")
    assert first["decision"] == "first_champion"
    assert first["champion"] is None
    assert alias_version(client, "catdog", "champion") == v_timid

    better = promote(sure, sure_card, split, tmp_path / "images", tmp_path / "p2.json")
    assert better["decision"] == "promoted", better["reason"]
    assert (better["challenger"]["version"], better["champion"]["version"]) == (v_sure, v_timid)
    assert better["challenger"]["scores"]["log_loss"] < better["champion"]["scores"]["log_loss"]
    assert better["challenger"]["scores"]["accuracy"] == 1.0
    assert better["challenger"]["scores"]["n_images"] == len(split)
    assert alias_version(client, "catdog", "champion") == v_sure

    worse = promote(wrong, wrong_card, split, tmp_path / "images", tmp_path / "p3.json")
    assert worse["decision"] == "kept_champion"
    assert worse["champion"]["version"] == v_sure
    assert alias_version(client, "catdog", "champion") == v_sure

    moves = alias_history(client, "catdog")
    assert [(m["version"], m["previous"], m["decision"]) for m in moves] == [
        (v_timid, None, "first_champion"),
        (v_sure, v_timid, "promoted"),
    ]
    tags = client.get_model_version("catdog", v_timid).tags
    assert tags["champion.until"] == moves[1]["since"]

    listed = CliRunner().invoke(cli, ["promote", "--history"])
    assert listed.exit_code == 0, listed.output
    assert [line.split()[1] for line in listed.output.splitlines()] == [f"v{v_timid}", f"v{v_sure}"]
