"""GET /metrics, the drift window and its baseline, and the capture of uncertain uploads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from catdog_pipeline.serving.app import create_app
from catdog_pipeline.serving.capture import UNLABELLED, UncertainCapture
from catdog_pipeline.serving.drift import DriftWindow, Reference, reference_from_predictions
from catdog_pipeline.serving.monitoring import ServiceMonitor, monitor_from_params

# The tiny model: red is a dog (P ~0.9), blue a cat, grey a coin toss (P ~0.5).
GREY = (128, 128, 128)


@contextmanager
def serving(predictor, limits, monitor: ServiceMonitor) -> Iterator[TestClient]:
    with TestClient(create_app(predictor, limits, monitor)) as client:
        yield client


def _predict(client: TestClient, *images: bytes):
    return client.post("/predict", files=[("file", (f"{i}.jpg", d)) for i, d in enumerate(images)])


def _sample(monitor: ServiceMonitor, name: str, **labels: str) -> float:
    return monitor.registry.get_sample_value(name, labels) or 0.0


def test_metrics_count_requests_predictions_and_refusals(predictor, serve_limits, photo):
    monitor = ServiceMonitor(["cat", "dog"], uncertain_below=0.7, drift_window=10)
    with serving(predictor, serve_limits, monitor) as client:
        assert _predict(client, photo("red"), photo("blue"), photo("red")).status_code == 200
        assert _predict(client, b"").status_code == 400
        assert _predict(client, b"not an image at all" * 10).status_code == 415
        too_large = b"\xff" * (serve_limits.max_body_bytes + 1)
        assert _predict(client, too_large).status_code == 413
        assert client.get("/health").status_code == 200
        assert client.get("/no/such/page").status_code == 404
        page = client.get("/metrics")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")
    families = {family.name for family in text_string_to_metric_families(page.text)}
    assert {"catdog_http_requests", "catdog_predictions", "catdog_prediction_confidence"} <= (
        families
    )
    requests = "catdog_http_requests_total"
    assert _sample(monitor, requests, method="POST", path="/predict", status="200") == 1
    assert _sample(monitor, requests, method="POST", path="/predict", status="413") == 1
    assert _sample(monitor, requests, method="GET", path="/health", status="200") == 1
    assert _sample(monitor, requests, method="GET", path="other", status="404") == 1
    assert _sample(monitor, "catdog_predictions_total", label="dog") == 2
    assert _sample(monitor, "catdog_predictions_total", label="cat") == 1
    assert _sample(monitor, "catdog_prediction_confidence_count") == 3
    refused = "catdog_uploads_refused_total"
    assert _sample(monitor, refused, reason="empty") == 1
    assert _sample(monitor, refused, reason="not_an_image") == 1
    assert _sample(monitor, refused, reason="request_too_large") == 1
    assert _sample(monitor, refused, reason="http_404") == 1
    latency = "catdog_http_request_duration_seconds_count"
    assert _sample(monitor, latency, path="/predict") == 4
    assert _sample(monitor, "catdog_drift_window_predictions") == 3
    assert _sample(monitor, "catdog_drift_class_share", label="dog") == pytest.approx(2 / 3)


def test_two_apps_keep_their_own_counts(predictor, serve_limits, photo):
    first = ServiceMonitor(["cat", "dog"], 0.7, 10)
    second = ServiceMonitor(["cat", "dog"], 0.7, 10)
    with serving(predictor, serve_limits, first) as client:
        _predict(client, photo("red"))
    with serving(predictor, serve_limits, second) as client:
        client.get("/metrics")

    assert _sample(first, "catdog_predictions_total", label="dog") == 1
    assert _sample(second, "catdog_predictions_total", label="dog") == 0


def test_the_drift_window_forgets_the_oldest_prediction():
    window = DriftWindow(3, ["cat", "dog"])
    for label, uncertain in [("cat", True), ("cat", False), ("dog", False), ("dog", False)]:
        window.add(label, uncertain)

    assert len(window) == 3
    assert window.uncertain_share() == 0
    assert window.class_share() == pytest.approx({"cat": 1 / 3, "dog": 2 / 3})


def test_the_baseline_is_the_evaluation_sets_confidence_and_predicted_classes():
    test_predictions = pd.DataFrame(
        {"probability": [0.95, 0.6, 0.1, 0.35], "predicted": ["dog", "dog", "cat", "cat"]}
    )

    reference = reference_from_predictions(test_predictions, "dog", uncertain_below=0.7)

    # Confidence as the service reports it: 0.95, 0.6, 0.9, 0.65 -> two below 0.7.
    assert reference == Reference(uncertain_share=0.5, class_share={"dog": 0.5, "cat": 0.5})


def test_the_baseline_is_exposed_next_to_the_window(predictor, tmp_path):
    path = tmp_path / "test_predictions.parquet"
    pd.DataFrame({"probability": [0.9, 0.8, 0.2], "predicted": ["dog", "dog", "cat"]}).to_parquet(
        path
    )
    serve = {"uncertain_below": 0.7, "drift_window": 5, "drift_reference": str(path)}

    monitor = monitor_from_params(serve, ["cat", "dog"], "dog", "tiny")

    assert _sample(monitor, "catdog_reference_class_share", label="dog") == pytest.approx(2 / 3)
    assert _sample(monitor, "catdog_reference_uncertain_share") == 0
    assert monitor.capture is None


def test_only_uncertain_uploads_are_captured_up_to_the_cap(
    predictor, serve_limits, photo, tmp_path: Path
):
    capture = UncertainCapture(tmp_path / "inbox", max_files=2, max_bytes=10**6, model="tiny")
    monitor = ServiceMonitor(["cat", "dog"], 0.7, 10, capture=capture)
    greys = [photo((128 + shade, 128, 128 + shade)) for shade in (0, 2, 4)]
    with serving(predictor, serve_limits, monitor) as client:
        answer = _predict(client, photo("red"), greys[0], greys[1])
        assert answer.status_code == 200
        _predict(client, greys[0])  # the same upload again
        _predict(client, greys[2])  # the cap is reached

    kept = sorted((tmp_path / "inbox" / UNLABELLED).glob("*.jpg"))
    assert len(kept) == 2
    assert {path.read_bytes() for path in kept} == set(greys[:2])
    sidecar = json.loads(kept[0].with_suffix(".json").read_text())
    assert sidecar["model"] == "tiny"
    assert sidecar["prediction"]["probability"] < 0.7
    assert sidecar["image"] == kept[0].name
    assert _sample(monitor, "catdog_captured_uploads_total") == 2
    assert _sample(monitor, "catdog_capture_skipped_total", reason="duplicate") == 1
    assert _sample(monitor, "catdog_capture_skipped_total", reason="full") == 1


def test_the_capture_cap_counts_bytes_and_what_already_waits(photo, tmp_path: Path):
    first = UncertainCapture(tmp_path, max_files=10, max_bytes=10**6)
    assert first.offer(photo(GREY), {"label": "dog", "probability": 0.51}) == (True, "captured")
    size = first.bytes

    again = UncertainCapture(tmp_path, max_files=10, max_bytes=size + 10)

    assert (again.files, again.bytes) == (1, size)
    other = photo((130, 128, 130))
    assert again.offer(other, {"label": "cat", "probability": 0.5}) == (False, "full")


@pytest.mark.parametrize("bad", [{"uncertain_below": 0.3}, {"drift_window": 0}])
def test_monitoring_params_are_checked(bad):
    serve = {"uncertain_below": 0.7, "drift_window": 5, "drift_reference": None, **bad}
    with pytest.raises(ValueError, match=f"serve.{next(iter(bad))}"):
        monitor_from_params(serve, ["cat", "dog"], "dog", "tiny")
