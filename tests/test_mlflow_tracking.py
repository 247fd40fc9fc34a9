"""MLflow tracking: configuration, the hooks' pieces, the logged model, and real runs.

The end-to-end tests start a real `mlflow server` on 127.0.0.1 (SQLite and artifacts in a
temporary folder), train a tiny model in a copy of the project against it with `kedro run
--pipeline training` (one Kedro session), and read its one run back with MlflowClient. The run
`dvc repro` makes (each stage its own process) is checked on the project `make run` built, in
tests/test_dvc_pipeline.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
import yaml
from PIL import Image
from tests.catalog import copy_catalog
from tests.splits import install_clean_images

from catdog_pipeline.catalog_paths import dataset_path
from catdog_pipeline.hooks import _pipeline_tag, dvc_data_hashes, flatten_params, git_state
from catdog_pipeline.images import encode_jpeg, prepare_image
from catdog_pipeline.mlflow_ui import EXPERIMENT_KIND_TAG, MODEL_TRAINING_KIND, run_name, ui_link
from catdog_pipeline.provenance import dvc_experiment

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SERVER_START_SECONDS = 240
TINY = 32  # image side of the end-to-end runs
EPOCHS = 2
SPLIT_SIZES = {"train": 16, "val": 8, "test": 8}


# ---- configuration


def _project_config(key: str) -> dict:
    from kedro.framework.project import settings
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(PROJECT_ROOT)
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(PROJECT_ROOT / "conf"), **settings.CONFIG_LOADER_ARGS
    )
    loader.config_patterns.setdefault(key, [f"{key}*", f"{key}*/**", f"**/{key}*"])
    return loader[key]


def test_tracking_uri_is_the_embedded_store_unless_the_environment_names_one(monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert _project_config("mlflow")["server"]["mlflow_tracking_uri"] == "sqlite:///mlflow.db"

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert _project_config("mlflow")["server"]["mlflow_tracking_uri"] == "http://127.0.0.1:5999"


def test_a_new_experiment_of_a_local_store_keeps_its_artifacts_in_the_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Also from `dvc exp run --queue`, which runs in a temporary copy (DVC_ROOT: the project)."""

    def artifact_location() -> str | None:
        return _project_config("mlflow")["tracking"]["experiment"]["create_experiment_kwargs"][
            "artifact_location"
        ]

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(PROJECT_ROOT)  # where Kedro runs
    assert artifact_location() == (PROJECT_ROOT / "mlruns").as_uri()
    monkeypatch.setenv("DVC_ROOT", "/home/someone/catdog")
    assert artifact_location() == "file:///home/someone/catdog/mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")  # the server decides
    assert artifact_location() is None


def test_data_pipelines_are_untracked_and_training_ones_tracked(monkeypatch) -> None:
    from kedro_mlflow.config.kedro_mlflow_config import KedroMlflowConfig
    from kedro_mlflow.framework.hooks.utils import _assert_mlflow_enabled

    config = KedroMlflowConfig.model_validate(_project_config("mlflow"))

    assert config.tracking.experiment.name == "catdog"
    for data_pipeline in ["ingest", "clean", "split", "data"]:
        assert not _assert_mlflow_enabled([data_pipeline], config), data_pipeline
    for training_pipeline in ["train", "evaluate", "training", "__default__"]:
        assert _assert_mlflow_enabled([training_pipeline], config), training_pipeline


# ---- hook pieces


def test_params_flatten_as_kedro_mlflow_flattens_them() -> None:
    from kedro_mlflow.framework.hooks.utils import _flatten_dict

    params = {"train": {"epochs": 2, "augmentation": {"zoom": 0.1}}, "image": {"size": [32, 32]}}

    flat = flatten_params(params)

    assert flat == {"train.epochs": "2", "train.augmentation.zoom": "0.1", "image.size": "[32, 32]"}
    assert flat == {key: str(value) for key, value in _flatten_dict(params, sep=".").items()}


def test_pipeline_tag_accumulates_the_pipelines_of_one_run() -> None:
    assert _pipeline_tag({"pipeline_names": ["training"]}, {}) == "training"
    assert _pipeline_tag({"pipeline_names": ["evaluate"]}, {"pipeline": "train"}) == (
        "train+evaluate"
    )
    assert _pipeline_tag({"pipeline_name": "evaluate"}, {"pipeline": "train+evaluate"}) == (
        "train+evaluate"
    )
    assert _pipeline_tag({}, {}) == "__default__"


def test_dvc_hashes_come_from_the_file_and_dvc_lock(tmp_path: Path) -> None:
    """...at the paths the catalog gives (here every dataset moved under `moved/`)."""
    copy_catalog(tmp_path, moved_under="moved")
    (tmp_path / "elsewhere").mkdir()
    copy_catalog(tmp_path / "elsewhere")
    assert dvc_data_hashes(tmp_path / "elsewhere") == {}  # no split manifest yet

    split = tmp_path / "moved/data/03_primary/split.parquet"
    assert dataset_path("split_manifest", tmp_path) == split
    split.parent.mkdir(parents=True)
    split.write_bytes(b"not really parquet")
    md5 = hashlib.md5(b"not really parquet").hexdigest()
    lock = {
        "schema": "2.0",
        "stages": {
            "clean": {
                "outs": [{"path": "moved/data/02_intermediate/image_shards", "md5": "abc.dir"}]
            },
            "split": {"outs": [{"path": "moved/data/03_primary/split.parquet", "md5": md5}]},
        },
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))

    assert dvc_data_hashes(tmp_path) == {
        "dvc.split_manifest.md5": md5,
        "dvc.clean_images.md5": "abc.dir",
        "dvc.lock_matches_data": "true",
    }
    split.write_bytes(b"changed since dvc repro")
    assert dvc_data_hashes(tmp_path)["dvc.lock_matches_data"] == "false"


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, check=True).stdout


def test_a_dvc_experiment_is_named_in_its_runs_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    assert dvc_experiment() == {}  # not inside `dvc exp run`
    monkeypatch.setenv("DVC_EXP_NAME", "fussy-lark")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "4e1f0c2")
    assert dvc_experiment() == {"dvc.exp_name": "fussy-lark", "dvc.exp_baseline": "4e1f0c2"}


def test_git_state_ignores_the_files_the_pipeline_rewrites(tmp_path: Path) -> None:
    assert git_state(tmp_path) == {}  # not a git checkout
    for name in ["src/code.py", "dvc.lock", "reports/metrics.json"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("v1")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "one")
    commit = _git(tmp_path, "rev-parse", "HEAD").strip()

    assert git_state(tmp_path) == {"git.commit": commit, "git.dirty": "false"}
    (tmp_path / "dvc.lock").write_text("v2")
    (tmp_path / "reports/metrics.json").write_text("v2")
    (tmp_path / "reports/figures").mkdir()
    (tmp_path / "reports/figures/.gitignore").write_text("/roc.png\n")
    assert git_state(tmp_path)["git.dirty"] == "false"
    (tmp_path / "src/code.py").write_text("v2")
    assert git_state(tmp_path)["git.dirty"] == "true"


# ---- the logged model


def _brightness_model(side: int):
    """uint8 images -> sigmoid of the centred mean pixel: bright images are dogs."""
    import keras

    inputs = keras.Input((side, side, 3), dtype="uint8")
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.layers[-1].set_weights([np.full((3, 1), 4.0), np.array([-6.0])])
    return model


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (48, 40)) -> bytes:
    """A plain JPEG of another size than the model's, so the pyfunc has to prepare it."""
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.slow
def test_model_dataset_logs_keras_and_a_registered_pyfunc(tmp_path, monkeypatch) -> None:
    import mlflow

    from catdog_pipeline.pipelines.evaluate.mlflow_model_dataset import MlflowCatdogModelDataset

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)  # client-side artifacts of a SQLite store go to ./mlruns
    card = {
        "classes": ["cat", "dog"],
        "positive_class": "dog",
        "image_size": [16, 16],
        "resize_mode": "pad",
        "max_pixels": 40_000_000,
    }
    model = _brightness_model(16)
    dataset = MlflowCatdogModelDataset(registered_model_name="catdog_test")

    dataset.save({"model": model, "model_card": card, "threshold": 0.5, "test_metrics": {}})
    assert mlflow.search_runs(search_all_experiments=True).empty  # no run, nothing logged

    with mlflow.start_run() as run:
        dataset.save(
            {
                "model": model,
                "model_card": card,
                "threshold": 0.5,
                "test_metrics": {"accuracy": 0.75, "roc_auc": None},
            }
        )
    client = mlflow.MlflowClient()
    (version,) = client.search_model_versions("name='catdog_test'")
    assert version.run_id == run.info.run_id
    assert version.tags == {"test.accuracy": "0.75"}

    keras_models = mlflow.search_logged_models(
        filter_string="name = 'keras_model'", output_format="list"
    )
    keras_uri = f"models:/{keras_models[0].model_id}"
    keras_info = mlflow.models.get_model_info(keras_uri)
    (tensor,) = keras_info.signature.inputs.inputs
    assert (tensor.type, tensor.shape) == (np.dtype("uint8"), (-1, 16, 16, 3))
    assert keras_info.saved_input_example_info is not None
    pixels = np.full((2, 16, 16, 3), 200, dtype=np.uint8)
    np.testing.assert_allclose(
        mlflow.keras.load_model(keras_uri).predict(pixels, verbose=0), model.predict(pixels)
    )

    pyfunc = mlflow.pyfunc.load_model("models:/catdog_test/1")
    assert pyfunc.metadata.get_input_schema().input_names() == ["image"]
    bright, dark = _jpeg((230, 230, 230)), _jpeg((20, 20, 20))
    answer = pyfunc.predict(
        pd.DataFrame({"image": [bright, dark, base64.b64encode(bright).decode()]})
    )
    assert answer["label"].tolist() == ["dog", "cat", "dog"]
    prepared = prepare_image(dark, size=(16, 16), resize_mode="pad", max_pixels=10**6)
    p_dog_dark = float(model.predict(prepared[np.newaxis], verbose=0)[0, 0])
    assert answer["probability"].iloc[1] == pytest.approx(1 - p_dog_dark, rel=1e-5)
    with pytest.raises(Exception, match="image row 1"):
        pyfunc.predict(pd.DataFrame({"image": [bright, b"not an image"]}))


# ---- real runs against a tracking server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1; its SQLite store and artifacts in a temp folder."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        *(sys.executable, "-m", "mlflow", "server"),
        *("--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
        *("--artifacts-destination", str(folder / "artifacts")),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    # The job runner (huey workers) serves features these tests do not use, and doubles start-up.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(folder / "server.log", "wb") as log:
        server = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until_healthy(url, server, folder / "server.log")
        yield url
    finally:
        _stop(server)


def _wait_until_healthy(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"mlflow server exited with {server.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    pytest.fail(f"mlflow server not healthy after {SERVER_START_SECONDS} s:\n{log.read_text()}")


def _stop(server: subprocess.Popen) -> None:
    """Stop the server and the workers it started (its own process group)."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)


def _write_tiny_training_data(project: Path) -> pd.DataFrame:
    """Clean images (dark cats, bright dogs, TINYxTINY) and their split manifest."""
    rng = np.random.default_rng(0)
    images = project / "data/.tiny-clean-images"
    rows = []
    for split, count in SPLIT_SIZES.items():
        for index in range(count):
            label_index = index % 2
            base = 70 if label_index == 0 else 190
            pixels = np.clip(rng.normal(base, 30, (TINY, TINY, 3)), 0, 255).astype(np.uint8)
            sha = hashlib.sha256(pixels.tobytes()).hexdigest()
            relative = f"{sha[:2]}/{sha}.jpg"
            (images / sha[:2]).mkdir(parents=True, exist_ok=True)
            (images / relative).write_bytes(encode_jpeg(Image.fromarray(pixels), quality=95))
            label = ["cat", "dog"][label_index]
            rows.append(
                {
                    "image_path": relative,
                    "original_path": f"PetImages/{label}/{len(rows)}.jpg",
                    "label": label,
                    "label_index": label_index,
                    "split": split,
                    "group": len(rows),
                }
            )
    manifest = pd.DataFrame(rows)
    install_clean_images(project, images)
    (project / "data/03_primary").mkdir(parents=True, exist_ok=True)
    manifest.to_parquet(project / "data/03_primary/split.parquet")
    return manifest


def _shrink_params(project: Path) -> dict:
    params_file = project / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["image"]["size"] = [TINY, TINY]
    params["train"].update(
        architecture="simple_cnn",
        input_resize=None,
        epochs=EPOCHS,
        batch_size=8,
        early_stopping_patience=EPOCHS,
        deterministic=False,
        simple_cnn={"filters": [4], "dense_units": 0, "dropout": 0.0},
    )
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    return params


@pytest.fixture(scope="module")
def tiny_project(module_project_copy: Path, tracking_server: str) -> Path:
    """The project copy with tiny params and data, committed so its git tags are clean."""
    _shrink_params(module_project_copy)
    _write_tiny_training_data(module_project_copy)
    _git(module_project_copy, "commit", "-qam", "tiny params")
    return module_project_copy


def _run(command: list[str], project: Path, tracking_uri: str) -> str:
    """Run `command` in `project` against `tracking_uri`; what it printed."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    assert done.returncode == 0, (
        f"{' '.join(command)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done.stdout + done.stderr


def _catdog_runs(client) -> list:
    experiment = client.get_experiment_by_name("catdog")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def _check_training_run(client, run, project: Path, pipeline_tag: str) -> None:
    """Everything one trained-and-evaluated model should leave in its MLflow run."""
    import mlflow

    run_id = run.info.run_id
    params = yaml.safe_load((project / "params.yaml").read_text())
    assert run.info.status == "FINISHED"
    assert run.data.params == flatten_params(params)
    assert run.data.params["train.epochs"] == str(EPOCHS)
    assert run.data.params["evaluate.threshold"] == "0.5"

    for metric in ["loss", "accuracy", "val_loss", "val_accuracy"]:
        history = client.get_metric_history(run_id, metric)
        assert sorted(point.step for point in history) == list(range(1, EPOCHS + 1)), metric
    metrics_file = json.loads((project / "reports/metrics.json").read_text())
    for name in ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"]:
        assert run.data.metrics[f"test.{name}"] == pytest.approx(metrics_file[name]), name

    artifacts = {item.path for item in client.list_artifacts(run_id)}
    assert {"figures", "metrics.json", "training_history.csv"} <= artifacts
    figures = {item.path for item in client.list_artifacts(run_id, "figures")}
    assert figures == {
        f"figures/{name}.png"
        for name in ["roc", "precision_recall", "confusion_matrix", "training_curves"]
    }
    logged_history = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="training_history.csv", tracking_uri=client.tracking_uri
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(logged_history), pd.read_csv(project / "reports/training_history.csv")
    )

    tags = run.data.tags
    assert tags["pipeline"] == pipeline_tag
    assert tags["git.commit"] == _git(project, "rev-parse", "HEAD").strip()
    assert tags["git.dirty"] == "false"
    split_md5 = hashlib.md5((project / "data/03_primary/split.parquet").read_bytes()).hexdigest()
    assert tags["dvc.split_manifest.md5"] == split_md5
    # `simple_cnn · data 3f2a1c · 34dfc19`, kept by `evaluate` when it resumes the run
    assert run.info.run_name == run_name("simple_cnn", split_md5, tags["git.commit"])
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING_KIND
    for split, count in SPLIT_SIZES.items():
        assert tags[f"data.{split}_images"] == str(count)

    card = json.loads((project / "data/06_models/model_card.json").read_text())
    assert card["mlflow_run_id"] == run_id
    (version,) = [v for v in client.search_model_versions("name='catdog'") if v.run_id == run_id]
    assert version.tags["test.accuracy"] == str(metrics_file["accuracy"])


@pytest.mark.slow
def test_kedro_training_pipeline_is_one_complete_run(tiny_project, tracking_server) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_server)
    before = {run.info.run_id for run in _catdog_runs(client)}

    output = _run(["kedro", "run", "--pipeline", "training"], tiny_project, tracking_server)

    new = [run for run in _catdog_runs(client) if run.info.run_id not in before]
    assert len(new) == 1
    _check_training_run(client, new[0], tiny_project, pipeline_tag="training")
    # The run's page in the server's UI, in its model-training layout.
    assert ui_link(tracking_server, new[0].info.experiment_id, new[0].info.run_id) in output
