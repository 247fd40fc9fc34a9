"""Fixtures for the deployment tests: a tiny model with its card, the app, a live uvicorn."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from catdog_pipeline.serving.app import ServeLimits, create_app
from catdog_pipeline.serving.predictor import Predictor, load_predictor

TINY_SIZE = (32, 32)
# Small limits, so "too large" uploads stay small.
TEST_LIMITS = {
    "max_body_bytes": 300_000,
    "max_pixels": 1_000_000,
    "formats": ["JPEG", "PNG", "WEBP", "GIF", "BMP"],
    "max_files": 4,
    "batch_size": 2,
}
# Named colours for test photos: the tiny model reads red as a dog and blue as a cat.
COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def build_tiny_model() -> keras.Model:
    """The trained model's contract in miniature: uint8 RGB in, P(dog) out.

    Weights are set by hand so the answer is predictable: P(dog) = sigmoid(3 * (mean red -
    mean blue)), after a random 3x3 convolution that keeps the arithmetic non-trivial.
    """
    inputs = keras.Input((*TINY_SIZE, 3), dtype="uint8")
    scaled = keras.layers.Rescaling(1 / 255)(inputs)
    texture = keras.layers.Conv2D(
        3, 3, padding="same", kernel_initializer=keras.initializers.RandomNormal(0, 0.01, seed=1)
    )(scaled)
    mixed = keras.layers.Add()([scaled, texture])
    pooled = keras.layers.GlobalAveragePooling2D()(mixed)
    output = keras.layers.Dense(1, activation="sigmoid", name="p_dog")(pooled)
    model = keras.Model(inputs, output)
    model.get_layer("p_dog").set_weights([np.array([[3.0], [0.0], [-3.0]]), np.zeros(1)])
    return model


def write_model(folder: Path, model: keras.Model, **card_overrides) -> Path:
    """Save `model` as folder/model.keras with a model_card.json beside it; return the .keras."""
    folder.mkdir(parents=True, exist_ok=True)
    card = {
        "classes": ["cat", "dog"],
        "positive_class": "dog",
        "image_size": list(TINY_SIZE),
        "resize_mode": "pad",
        "max_pixels": 40_000_000,
        "mlflow_run_id": None,
        **card_overrides,
    }
    (folder / "model_card.json").write_text(json.dumps(card))
    model.save(folder / "model.keras")
    return folder / "model.keras"


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model(tmp_path_factory.mktemp("tiny-model"), build_tiny_model())


@pytest.fixture(scope="session")
def predictor(tiny_model_path: Path) -> Predictor:
    return load_predictor(tiny_model_path)


@pytest.fixture(scope="session")
def serve_limits() -> ServeLimits:
    return ServeLimits.from_params(TEST_LIMITS)


@pytest.fixture(scope="session")
def params_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A params.yaml with what predict and serve read: test limits, monitoring, a threshold."""
    import yaml

    path = tmp_path_factory.mktemp("params") / "params.yaml"
    serve = {**TEST_LIMITS, "uncertain_below": 0.7, "drift_window": 50, "drift_reference": None}
    serve["reload_seconds"] = 0
    serve["capture"] = {"folder": None, "max_files": 10, "max_bytes": 1_000_000}
    evaluate = {"threshold": 0.5, "batch_size": 8}
    path.write_text(yaml.safe_dump({"serve": serve, "evaluate": evaluate}))
    return path


@pytest.fixture(scope="session")
def client(predictor: Predictor, serve_limits: ServeLimits) -> Iterator:
    from fastapi.testclient import TestClient

    with TestClient(create_app(predictor, serve_limits)) as test_client:
        yield test_client


@contextmanager
def running_server(app) -> Iterator[str]:
    """Serve `app` with a real uvicorn on 127.0.0.1 (a free port) in a thread; its base URL."""
    import uvicorn

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                pytest.fail("uvicorn did not start within 30 s")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


@pytest.fixture(scope="session")
def serve_app() -> Callable[..., Iterator[str]]:
    """serve_app(app): a context manager running `app` on a real uvicorn; yields its URL."""
    return running_server


@pytest.fixture(scope="session")
def live_server(predictor: Predictor, serve_limits: ServeLimits) -> Iterator[str]:
    """The service around the tiny model on a real uvicorn; its base URL."""
    with running_server(create_app(predictor, serve_limits)) as url:
        yield url


def photo_bytes(colour: str | tuple[int, int, int], size=TINY_SIZE, fmt: str = "JPEG") -> bytes:
    """A photo-like image of mostly one colour (noise added, so JPEG has work to do)."""
    colour = COLOURS.get(colour, colour) if isinstance(colour, str) else colour
    rng = np.random.default_rng(sum(colour))
    pixels = np.clip(np.array(colour) + rng.normal(0, 12, (size[1], size[0], 3)), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def photo() -> Callable[..., bytes]:
    """photo(colour, size=(w, h), fmt='JPEG'): image bytes; "red" reads as dog, "blue" as cat."""
    return photo_bytes


@pytest.fixture(scope="session")
def save_tiny_model() -> Callable[..., Path]:
    """save_tiny_model(folder, **card_overrides): a fresh tiny model and card; the .keras path."""
    return lambda folder, **card_overrides: write_model(
        folder, build_tiny_model(), **card_overrides
    )
