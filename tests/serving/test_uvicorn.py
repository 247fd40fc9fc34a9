"""The service on a real uvicorn over 127.0.0.1: answers, a free event loop, `catdog serve`."""

from __future__ import annotations

import copy
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from catdog_pipeline.serving.app import create_app

SLOW_INFERENCE_S = 1.5


def test_real_server_serves_page_health_and_predictions(live_server, photo):
    with httpx.Client(base_url=live_server, timeout=30) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert 'type="file"' in client.get("/").text
        answer = client.post("/predict", files=[("file", ("tom.jpg", photo("blue"), "image/jpeg"))])
    assert answer.status_code == 200
    assert answer.json()["predictions"][0]["label"] == "cat"


def test_health_answers_while_the_model_is_busy(predictor, serve_limits, serve_app, photo):
    """Inference runs on a worker thread: a slow prediction does not hold up other requests."""
    slow = copy.copy(predictor)

    def slow_probabilities(batch):
        time.sleep(SLOW_INFERENCE_S)
        return predictor.positive_probabilities(batch)

    slow.positive_probabilities = slow_probabilities
    with serve_app(create_app(slow, serve_limits)) as url, ThreadPoolExecutor(1) as pool:
        upload = [("file", ("rex.jpg", photo("red"), "image/jpeg"))]
        busy = pool.submit(httpx.post, f"{url}/predict", files=upload, timeout=30)
        time.sleep(0.3)  # the prediction is now sleeping in its worker thread
        started = time.monotonic()
        health = httpx.get(f"{url}/health", timeout=30)
        waited = time.monotonic() - started
        assert not busy.done()
        assert busy.result().status_code == 200
    assert health.status_code == 200
    assert waited < SLOW_INFERENCE_S / 2


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_catdog_serve_starts_answers_and_stops(tiny_model_path, params_file, photo):
    catdog = Path(sys.executable).with_name("catdog")
    if not catdog.exists():
        pytest.skip(f"{catdog} is not installed: `pip install -e .` first")
    port = _free_port()
    server = subprocess.Popen(
        [
            catdog,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model",
            str(tiny_model_path),
            "--params",
            str(params_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "catdog serve did not come up in 180 s"
            time.sleep(0.5)
        answer = httpx.post(
            f"{url}/predict", files={"file": ("rex.jpg", photo("red"), "image/jpeg")}, timeout=30
        )
        assert answer.json()["predictions"][0]["label"] == "dog"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output = server.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            output = server.communicate()[0]
    assert server.returncode == 0, output
    assert "Application startup complete" in output
