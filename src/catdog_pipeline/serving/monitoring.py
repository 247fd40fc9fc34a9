"""What the running service tells Prometheus: `GET /metrics`, drift gauges, uncertain uploads.

Each app gets its own `CollectorRegistry`, so several apps in one process (tests, a reload)
never share or clash over a metric. Requests are counted by an ASGI middleware outside every
other one, so a 413 from the body limit is counted like any other answer; the `error` code of
a 4xx JSON answer becomes the refusal reason. The drift signal (drift.py) compares the last
`serve.drift_window` predictions with the evaluation set's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import prometheus_client as prometheus
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.serving.capture import UncertainCapture
from catdog_pipeline.serving.drift import DriftWindow, Reference, load_reference

# Paths reported as themselves; any other (static files, docs, typos) is `other`, so a
# scanner cannot create one time series per URL it tries.
KNOWN_PATHS = frozenset({"/", "/predict", "/health", "/metrics", "/reload"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONFIDENCE_BUCKETS = (0.55, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
ERROR_BODY_LIMIT = 4096  # bytes of an error answer read for its `error` code


class ServiceMonitor:
    """The service's Prometheus metrics, drift window and optional capture of uncertain uploads.

    `uncertain_below`: a prediction whose probability (of the label given) is below it is
    uncertain. Thread-safe: predictions are observed from worker threads.
    """

    def __init__(
        self,
        classes: Sequence[str],
        uncertain_below: float,
        drift_window: int,
        reference: Reference | None = None,
        capture: UncertainCapture | None = None,
    ) -> None:
        if not 0.5 <= uncertain_below <= 1.0:
            raise InputError(f"serve.uncertain_below must be in [0.5, 1], got {uncertain_below}")
        if drift_window < 1:
            raise InputError(f"serve.drift_window must be a positive integer, got {drift_window}")
        self.registry = prometheus.CollectorRegistry()
        self.uncertain_below = uncertain_below
        self.capture = capture
        self._lock = threading.Lock()
        self._window = DriftWindow(drift_window, classes)
        self._define_metrics(classes)
        if reference is not None:
            self.reference_uncertain.set(reference.uncertain_share)
            for label in classes:
                self.reference_class.labels(label).set(reference.class_share.get(label, 0.0))

    def _define_metrics(self, classes: Sequence[str]) -> None:
        registry = self.registry
        self.requests = prometheus.Counter(
            "catdog_http_requests",
            "HTTP requests answered",
            ["method", "path", "status"],
            registry=registry,
        )
        self.latency = prometheus.Histogram(
            "catdog_http_request_duration_seconds",
            "Time to answer a request",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.refused = prometheus.Counter(
            "catdog_uploads_refused",
            "Requests refused with a 4xx, by reason",
            ["reason"],
            registry=registry,
        )
        self.predictions = prometheus.Counter(
            "catdog_predictions", "Images classified, by label", ["label"], registry=registry
        )
        self.confidence = prometheus.Histogram(
            "catdog_prediction_confidence",
            "Probability of the label given",
            buckets=CONFIDENCE_BUCKETS,
            registry=registry,
        )
        self.window_size = prometheus.Gauge(
            "catdog_drift_window_predictions", "Predictions in the drift window", registry=registry
        )
        self.window_uncertain = prometheus.Gauge(
            "catdog_drift_uncertain_share",
            "Share of uncertain predictions in the drift window",
            registry=registry,
        )
        self.window_class = prometheus.Gauge(
            "catdog_drift_class_share",
            "Share of each label in the drift window",
            ["label"],
            registry=registry,
        )
        self.reference_uncertain = prometheus.Gauge(
            "catdog_reference_uncertain_share",
            "Share of uncertain predictions, evaluation set",
            registry=registry,
        )
        self.reference_class = prometheus.Gauge(
            "catdog_reference_class_share",
            "Share of each predicted label, evaluation set",
            ["label"],
            registry=registry,
        )
        self.captured = prometheus.Counter(
            "catdog_captured_uploads", "Uncertain uploads kept for labelling", registry=registry
        )
        self.capture_skipped = prometheus.Counter(
            "catdog_capture_skipped",
            "Uncertain uploads not kept, by reason",
            ["reason"],
            registry=registry,
        )
        for label in classes:
            self.predictions.labels(label)
            self.window_class.labels(label)

    def observe(self, images: Sequence[bytes], predictions: Sequence[Mapping[str, Any]]) -> None:
        """Count the predictions, slide the drift window, and capture the uncertain images."""
        for data, prediction in zip(images, predictions, strict=True):
            label, confidence = prediction["label"], float(prediction["probability"])
            uncertain = confidence < self.uncertain_below
            self.predictions.labels(label).inc()
            self.confidence.observe(confidence)
            with self._lock:
                self._window.add(label, uncertain)
                self.window_size.set(len(self._window))
                self.window_uncertain.set(self._window.uncertain_share())
                for name, share in self._window.class_share().items():
                    self.window_class.labels(name).set(share)
            if uncertain and self.capture is not None:
                kept, reason = self.capture.offer(data, prediction)
                if kept:
                    self.captured.inc()
                else:
                    self.capture_skipped.labels(reason).inc()

    def exposition(self) -> Response:
        """The metrics in Prometheus' text format."""
        return Response(
            prometheus.generate_latest(self.registry), media_type=prometheus.CONTENT_TYPE_LATEST
        )


class RequestMetrics:
    """ASGI middleware: count and time every HTTP request; count 4xx refusals by `error` code."""

    def __init__(self, app: ASGIApp, monitor: ServiceMonitor) -> None:
        self.app = app
        self.monitor = monitor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in KNOWN_PATHS else "other"
        status = 500  # unless an answer starts
        error_body = bytearray()
        started = time.perf_counter()

        async def watched_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and 400 <= status < 500:
                room = ERROR_BODY_LIMIT - len(error_body)
                error_body.extend(message.get("body", b"")[: max(room, 0)])
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            monitor = self.monitor
            monitor.latency.labels(path).observe(time.perf_counter() - started)
            monitor.requests.labels(scope["method"], path, str(status)).inc()
            if 400 <= status < 500:
                monitor.refused.labels(_error_code(bytes(error_body), status)).inc()


def _error_code(body: bytes, status: int) -> str:
    """The `error` of the service's JSON error answer; `http_<status>` for any other answer."""
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    return error if isinstance(error, str) else f"http_{status}"


def add_monitoring(app: Any, monitor: ServiceMonitor) -> None:
    """Count every request (call after adding the other middleware) and serve GET /metrics."""
    app.add_middleware(RequestMetrics, monitor=monitor)

    @app.get("/metrics", summary="Prometheus metrics: requests, predictions, drift, capture")
    async def metrics(_: Request) -> Response:
        return monitor.exposition()


def monitor_from_params(
    serve: Mapping[str, Any], classes: Sequence[str], positive_class: str, model: str
) -> ServiceMonitor:
    """A ServiceMonitor from params.yaml's `serve` (uncertain_below, drift_window,
    drift_reference, capture); paths are relative to the working directory."""
    uncertain_below = float(serve["uncertain_below"])
    capture = serve.get("capture") or {}
    folder = capture.get("folder")
    return ServiceMonitor(
        classes,
        uncertain_below,
        int(serve["drift_window"]),
        reference=load_reference(serve.get("drift_reference"), positive_class, uncertain_below),
        capture=(
            UncertainCapture(Path(folder), capture["max_files"], capture["max_bytes"], model)
            if folder
            else None
        ),
    )
