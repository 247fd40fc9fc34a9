"""End to end on real photos: dvc repro, no-op and partial repro, push and pull, training."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

DATA_OUTPUTS = [
    "data/01_raw/inventory.parquet",
    "data/02_intermediate/manifest.parquet",
    "data/03_primary/split.parquet",
]


def run(args: list[str], cwd: Path) -> str:
    """Run a command in the project copy; fail the test with its output if it fails."""
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr}"
    return done.stdout + done.stderr


def set_params(project: Path, section: str, **values) -> None:
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params[section].update(values)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def stages_run(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


@pytest.fixture(scope="module")
def project(module_project_copy: Path, shared_mini_zip: Path) -> Path:
    """The project copy after `dvc repro split` on the mini archive."""
    set_params(module_project_copy, "ingest", source=str(shared_mini_zip))
    output = run(["dvc", "repro", "split"], module_project_copy)
    assert stages_run(output) == ["ingest", "clean", "split"]
    return module_project_copy


def test_repro_builds_manifest_split_and_quality_report(project: Path) -> None:
    for output in DATA_OUTPUTS:
        assert (project / output).is_file(), output
    quality = json.loads((project / "reports/data_quality.json").read_text())
    assert quality["files_seen"] == 600
    split_sizes = {name: sum(counts.values()) for name, counts in quality["splits"].items()}
    assert sum(split_sizes.values()) == quality["kept"] > 550
    assert split_sizes["train"] == pytest.approx(0.8 * quality["kept"], abs=2)
    split = pd.read_parquet(project / "data/03_primary/split.parquet")
    images = project / "data/02_intermediate/images"
    assert all((images / path).is_file() for path in split["image_path"])
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert {"ingest", "clean", "split"} <= set(lock["stages"])


def test_second_repro_does_nothing(project: Path) -> None:
    output = run(["dvc", "repro", "split"], project)
    assert stages_run(output) == []
    assert "Data and pipelines are up to date" in output


def test_changing_a_split_parameter_reruns_only_split(project: Path) -> None:
    before = pd.read_parquet(project / "data/03_primary/split.parquet")
    set_params(project, "split", seed=2024)
    output = run(["dvc", "repro", "split"], project)
    assert stages_run(output) == ["split"]
    after = pd.read_parquet(project / "data/03_primary/split.parquet")
    assert set(before["image_path"]) == set(after["image_path"])
    assert not before.set_index("image_path")["split"].equals(
        after.set_index("image_path").loc[before["image_path"], "split"]
    )


def test_push_and_pull_through_a_local_remote(project: Path, tmp_path: Path) -> None:
    run(["dvc", "remote", "add", "--local", "-d", "teammate", str(tmp_path / "remote")], project)
    run(["dvc", "push", "--with-deps", "split"], project)
    manifest = (project / "data/02_intermediate/manifest.parquet").read_bytes()
    for output in ["data/01_raw/images", "data/02_intermediate/images", *DATA_OUTPUTS]:
        target = project / output
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    shutil.rmtree(project / ".dvc/cache")
    run(["dvc", "pull", "--with-deps", "split"], project)
    assert (project / "data/02_intermediate/manifest.parquet").read_bytes() == manifest
    assert "up to date" in run(["dvc", "status", "split"], project).lower()


TINY_TRAINING = {
    "architecture": "simple_cnn",
    "input_resize": [48, 48],
    "epochs": 2,
    "simple_cnn": {"filters": [8, 16], "dense_units": 16, "dropout": 0.1},
}


def test_full_repro_trains_evaluates_and_reports_on_real_photos(project: Path) -> None:
    set_params(project, "train", **TINY_TRAINING)
    output = run(["dvc", "repro"], project)
    assert stages_run(output) == ["train", "evaluate", "report"]
    metrics = json.loads((project / "reports/metrics.json").read_text())
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert 0 <= metrics[name] <= 1, name
    assert metrics["log_loss"] > 0
    assert metrics["n_images"] == len(
        pd.read_parquet(project / "data/03_primary/split.parquet").query("split == 'test'")
    )
    history = pd.read_csv(project / "reports/training_history.csv")
    assert history["epoch"].tolist() == [1, 2]
    report = (project / "reports/report.html").read_text()
    assert "data:image/png;base64," in report
    assert (project / "reports/report.md").read_text().count("accuracy") >= 1


def test_changing_a_train_parameter_reruns_train_and_what_follows(project: Path) -> None:
    set_params(project, "train", learning_rate=0.002)
    output = run(["dvc", "repro"], project)
    assert stages_run(output) == ["train", "evaluate", "report"]


def test_kedro_training_pipeline_retrains_on_the_existing_split(project: Path) -> None:
    model = project / "data/06_models/model.keras"
    before = model.stat().st_mtime_ns
    run(["kedro", "run", "--pipeline", "training"], project)
    assert model.stat().st_mtime_ns > before
    assert json.loads((project / "reports/metrics.json").read_text())["n_images"] > 0
