"""The registered MLflow model: served by `mlflow models serve`, and loaded by `catdog predict`.

A tiny model is logged with the evaluate stage's own dataset (pyfunc `CatdogModel` + Keras
flavour) into a sqlite tracking store in a temporary folder and registered as `catdog`.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
from click.testing import CliRunner

from catdog_pipeline.cli import cli
from catdog_pipeline.serving.predictor import load_predictor

pytestmark = pytest.mark.slow
START_TIMEOUT_S = 240


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory, tiny_model_path, predictor):
    """A sqlite tracking store holding `catdog` version 1 (alias `champion`): the tiny model."""
    from catdog_pipeline.pipelines.evaluate.mlflow_model_dataset import MlflowCatdogModelDataset

    store = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{store / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        experiment = mlflow.create_experiment(
            "catdog", artifact_location=(store / "artifacts").as_uri()
        )
        with mlflow.start_run(experiment_id=experiment):
            MlflowCatdogModelDataset(registered_model_name="catdog").save(
                {
                    "model": predictor.model,
                    "model_card": json.loads(
                        (tiny_model_path.parent / "model_card.json").read_text()
                    ),
                    "threshold": 0.5,
                    "test_metrics": {"accuracy": 1.0},
                }
            )
        mlflow.MlflowClient().set_registered_model_alias("catdog", "champion", "1")
    return uri


def _expected(predictor, images: list[bytes]) -> list[float]:
    return predictor.positive_probabilities(np.stack([predictor.prepare(i) for i in images]))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tracking_uri, tmp_path_factory):
    """`mlflow models serve -m models:/catdog/1 --env-manager local` on a free loopback port."""
    tmp_path = tmp_path_factory.mktemp("mlflow-serve")
    port = _free_port()
    venv_bin = str(Path(sys.executable).parent)  # mlflow starts `uvicorn` by name
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/catdog/1",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": tracking_uri,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        },
        stdout=(tmp_path / "serve.log").open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: uvicorn runs as a grandchild
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow models serve exited:\n{(tmp_path / 'serve.log').read_text()}")
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow models serve was not up after {START_TIMEOUT_S} s")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_mlflow_models_serve_classifies_base64_images(mlflow_server, predictor, photo):
    images = [photo("red"), photo("blue", (64, 48), fmt="PNG")]
    payload = {
        "dataframe_split": {
            "columns": ["image"],
            "data": [[base64.b64encode(image).decode()] for image in images],
        }
    }
    answer = httpx.post(f"{mlflow_server}/invocations", json=payload, timeout=60)
    assert answer.status_code == 200, answer.text
    predictions = answer.json()["predictions"]
    assert [p["label"] for p in predictions] == ["dog", "cat"]
    p_dog, p_cat = _expected(predictor, images)
    assert predictions[0]["probability"] == pytest.approx(p_dog, abs=1e-6)
    assert predictions[1]["probability"] == pytest.approx(1 - p_cat, abs=1e-6)


def test_mlflow_models_serve_refuses_a_broken_image_with_a_4xx(mlflow_server):
    payload = {"dataframe_records": [{"image": base64.b64encode(b"not a photo").decode()}]}
    answer = httpx.post(f"{mlflow_server}/invocations", json=payload, timeout=60)
    assert 400 <= answer.status_code < 500
    assert httpx.get(f"{mlflow_server}/ping", timeout=10).status_code == 200


@pytest.mark.parametrize("uri", ["models:/catdog/1", "models:/catdog@champion"])
def test_catdog_predict_takes_a_registered_model(
    uri, tracking_uri, predictor, params_file, tmp_path, photo, monkeypatch
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    image = tmp_path / "rex.jpg"
    image.write_bytes(photo("red"))
    registered = load_predictor(uri)
    assert registered.card == predictor.card
    result = CliRunner().invoke(
        cli,
        ["predict", str(image), "--model", uri, "--params", str(params_file), "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["label"] == "dog"
    assert row["p_dog"] == pytest.approx(_expected(predictor, [image.read_bytes()])[0], abs=1e-6)


def test_an_unknown_registered_model_is_a_clear_error(tracking_uri, params_file, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    result = CliRunner().invoke(
        cli, ["predict", "x.jpg", "--model", "models:/catdog/99", "--params", str(params_file)]
    )
    assert result.exit_code == 1
    assert "Cannot fetch 'models:/catdog/99'" in result.output
    assert "MLFLOW_TRACKING_URI" in result.output
