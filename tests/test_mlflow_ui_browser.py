"""The MLflow UI in headless Chromium: it opens on the training runs and charts their metrics.

Starts `mlflow ui` on 127.0.0.1, as the README does, over a SQLite store holding one run with
per-epoch metrics, its experiment set up by the code the hooks use (mlflow_ui.py), and opens it
with tests/browser.py (skips only where Chromium is not installed).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from tests.browser import DevTools, headless_chromium, needs_chromium, on_page

from catdog_pipeline.mlflow_ui import run_name, training_experiment, ui_link

pytestmark = [needs_chromium, pytest.mark.slow]
SERVER_START_SECONDS = 240
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")  # as the train stage logs them
EPOCHS = 3


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A SQLite store with the `catdog` experiment and one finished run with epoch metrics."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    folder = tmp_path_factory.mktemp("mlflow-ui")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    client = MlflowClient(store)
    experiment_id = training_experiment(client, "catdog")
    name = run_name("xception_mini", "3f2a1c" + "0" * 26, "34dfc19" + "0" * 33)
    run_id = client.create_run(experiment_id, run_name=name).info.run_id
    now = int(time.time() * 1000)
    curves = dict(zip(METRICS, (1.0, 0.5, 1.2, 0.45), strict=True))
    metrics = [
        Metric(
            metric, start / epoch if "loss" in metric else start + epoch / 10, now + epoch, epoch
        )
        for epoch in range(1, EPOCHS + 1)
        for metric, start in curves.items()
    ]
    client.log_batch(run_id, metrics=metrics)
    client.set_terminated(run_id)
    return {
        "store": store,
        "folder": str(folder),
        "experiment_id": experiment_id,
        "run_id": run_id,
        "run_name": name,
    }


@pytest.fixture(scope="module")
def mlflow_ui(tracked_run: dict[str, str]) -> Iterator[str]:
    """`mlflow ui --backend-store-uri ...` as the README starts it, on a free local port."""
    folder, port = Path(tracked_run["folder"]), _free_port()
    command = [
        *(sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", tracked_run["store"]),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(folder / "ui.log", "wb") as log:
        server = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow ui did not start:\n{(folder / 'ui.log').read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


async def click(devtools: DevTools, element: str) -> None:
    """A real mouse click in the middle of `element` (a JavaScript expression)."""
    x, y = await devtools.wait_for(
        f"(() => {{ const e = {element}; if (!e) return null;"
        " const box = e.getBoundingClientRect();"
        " return [box.x + box.width / 2, box.y + box.height / 2]; })()"
    )
    for event in ("mousePressed", "mouseReleased"):
        await devtools.call(
            "Input.dispatchMouseEvent", type=event, x=x, y=y, button="left", clickCount=1
        )


async def open_page(devtools: DevTools, url: str) -> None:
    """Load `url` afresh: from one #/ route to another would only be a hash change."""
    await devtools.call("Page.navigate", url="about:blank")
    await devtools.wait_for("location.href === 'about:blank'")
    await devtools.call("Page.navigate", url=url)
    await devtools.wait_for("location.protocol === 'http:' && document.readyState === 'complete'")


LANDED = (
    "(() => { const m = location.hash.match(/^#\\/experiments\\/[^/?]+\\/([a-z-]+)/);"
    " return m && document.body.innerText.includes('catdog') ? m[1] : null; })()"
)


def test_the_ui_opens_on_training_runs_and_charts_their_metrics(
    mlflow_ui, tracked_run, tmp_path
) -> None:
    experiment_id, run_id = tracked_run["experiment_id"], tracked_run["run_id"]
    screenshot = tmp_path / "model-metrics.png"

    async def browse(devtools: DevTools) -> dict:
        seen = {}
        # The bare experiment URL in a fresh browser: MLflow 3.17 picks the GenAI layout there,
        # whatever the experiment's kind tag, hence the links' workflowType parameter.
        seen["bare"] = await devtools.wait_for(LANDED)

        await open_page(devtools, ui_link(mlflow_ui, experiment_id))
        seen["landed"] = await devtools.wait_for(LANDED)
        seen["runs_list"] = await devtools.wait_for(
            f"document.body.innerText.includes({json.dumps(tracked_run['run_name'])})"
            " && document.body.innerText"
        )

        await open_page(devtools, ui_link(mlflow_ui, experiment_id, run_id))
        tab = "[...document.querySelectorAll('[role=tab]')]"
        await click(devtools, f"{tab}.find(e => e.textContent.trim() === 'Model metrics')")
        seen["charts"] = await devtools.wait_for(
            "(() => { const cards = [...document.querySelectorAll("
            "'[data-testid=experiment-view-compare-runs-card]')];"
            " const drawn = cards.filter(c => [...c.querySelectorAll('path.js-line')]"
            ".some(p => (p.getAttribute('d') || '').includes('L')));"
            f" return drawn.length >= {len(METRICS)} &&"
            " drawn.map(c => c.innerText.split('\\n')[0].trim()); })()"
        )
        seen["run_page"] = await devtools.evaluate("location.hash")
        shot = await devtools.call("Page.captureScreenshot", format="png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        return seen

    with headless_chromium(tmp_path / "profile") as browser:
        bare_url = f"{mlflow_ui}/#/experiments/{experiment_id}"
        seen = asyncio.run(on_page(browser, bare_url, browse))
    # If this fails, MLflow now opens the tag's layout: links need no workflowType any more.
    assert seen["bare"] in {"overview", "traces"}, seen["bare"]
    assert seen["landed"] == "runs", seen["landed"]  # the training runs list
    for genai_overview in ("Detect Issues", "Token Usage"):
        assert genai_overview not in seen["runs_list"]
    assert tracked_run["run_name"] in seen["runs_list"]
    assert sorted(seen["charts"]) == sorted(METRICS)
    assert seen["run_page"].startswith(f"#/experiments/{experiment_id}/runs/{run_id}/model-metrics")
    assert screenshot.stat().st_size > 10_000
