"""The service serves `catdog@champion` and follows the alias when it moves, dropping nothing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import mlflow
import pytest
from tests.registry import colour_photo, jpeg, register

from catdog_pipeline.serving.app import create_app
from catdog_pipeline.serving.champion import (
    CHAMPION_URI,
    ServedModel,
    default_model,
    served_model,
    tracking_uri,
)

RED = jpeg(colour_photo((200, 60, 60), seed=1))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory):
    """A SQLite registry holding a right (red is a dog) and a wrong version of `catdog`."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        # set_experiment exports MLFLOW_EXPERIMENT_ID: undo that too when the module ends.
        patch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("catdog")
        right, wrong = register(3.0)[2], register(-3.0)[2]
        yield {"client": mlflow.MlflowClient(), "right": right, "wrong": wrong}
        mlflow.set_tracking_uri(None)


def _label(base_url: str) -> str:
    answer = httpx.post(f"{base_url}/predict", files={"file": ("red.jpg", RED)}, timeout=30)
    answer.raise_for_status()
    return answer.json()["predictions"][0]["label"]


def test_the_service_follows_the_alias_without_dropping_a_request(
    registry, serve_limits, serve_app
):
    client = registry["client"]
    client.set_registered_model_alias("catdog", "champion", registry["right"])
    assert default_model("data/06_models/model.keras") == CHAMPION_URI
    served = served_model(CHAMPION_URI, threshold=0.5, poll_seconds=0)

    with serve_app(create_app(served, serve_limits)) as url:
        assert httpx.get(f"{url}/health").json()["model_version"] == registry["right"]
        assert _label(url) == "dog"
        unchanged = httpx.post(f"{url}/reload").json()
        assert unchanged == {"reloaded": False, "version": registry["right"]}

        client.set_registered_model_alias("catdog", "champion", registry["wrong"])
        with ThreadPoolExecutor(4) as pool:
            during = [pool.submit(_label, url) for _ in range(24)]
            reload = httpx.post(f"{url}/reload", timeout=60).json()
            labels = [job.result() for job in during]  # raises on any non-2xx answer

        assert reload == {
            "reloaded": True,
            "version": registry["wrong"],
            "previous": registry["right"],
        }
        assert set(labels) <= {"dog", "cat"} and len(labels) == 24
        assert _label(url) == "cat"
        assert httpx.get(f"{url}/health").json()["model_version"] == registry["wrong"]


def test_polling_picks_up_a_moved_alias(registry, serve_limits, serve_app):
    client = registry["client"]
    client.set_registered_model_alias("catdog", "champion", registry["right"])
    served = served_model(CHAMPION_URI, threshold=0.5, poll_seconds=0.2)

    with serve_app(create_app(served, serve_limits)) as url:
        assert _label(url) == "dog"
        client.set_registered_model_alias("catdog", "champion", registry["wrong"])
        deadline = time.monotonic() + 30
        while httpx.get(f"{url}/health").json()["model_version"] != registry["wrong"]:
            assert time.monotonic() < deadline, "the service never followed the alias"
            time.sleep(0.2)
        assert _label(url) == "cat"


def test_without_an_alias_or_a_registry_the_local_file_is_used(
    registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    registry["client"].delete_registered_model_alias("catdog", "champion")
    assert default_model("local.keras") == "local.keras"

    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)  # no mlflow.db here
    assert tracking_uri() is None
    assert default_model("local.keras") == "local.keras"


def test_a_local_model_offers_no_reload(predictor, serve_limits):
    from fastapi.testclient import TestClient

    served = ServedModel(predictor)
    assert not served.follows_alias
    assert served.reload()["reloaded"] is False
    with TestClient(create_app(served, serve_limits)) as client:
        assert client.post("/reload").status_code in (404, 405)
        assert client.get("/health").json()["model_version"] is None


def test_a_failed_reload_keeps_serving_the_model_it_had(predictor, serve_limits, photo):
    from fastapi.testclient import TestClient

    def unreachable(version: str):
        raise OSError(f"cannot download version {version}")

    served = ServedModel(predictor, "1", resolve=lambda: "2", load=unreachable)
    with TestClient(create_app(served, serve_limits)) as client:
        answer = client.post("/reload")
        assert answer.status_code == 503
        assert answer.json()["error"] == "reload_failed"
        assert "still serving version 1" in answer.json()["detail"]
        assert client.post("/predict", files={"file": ("a.jpg", photo("red"))}).status_code == 200
        assert client.get("/health").json()["model_version"] == "1"
