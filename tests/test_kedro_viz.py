"""kedro-viz: `kedro viz build` writes a static site that draws every stage's pipeline.

The build runs in a throwaway copy of the project (it writes `build/` and `.viz/` into the
working directory); the page is served from 127.0.0.1 and opened in headless Chromium, where
every other host fails to resolve.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from tests.browser import DevTools, headless_chromium, needs_chromium, on_page

from catdog_pipeline.pipeline_registry import STAGES, register_pipelines

pytestmark = pytest.mark.slow
# kedro-viz 12.5's index.html asks Google Fonts for its typeface (falling back to the system
# font when that fails); nothing else may be fetched from outside.
KNOWN_CDN_HOSTS = {"fonts.googleapis.com", "fonts.gstatic.com"}


@pytest.fixture(scope="module")
def viz_build(module_project_copy: Path) -> Path:
    """`kedro viz build` run in a copy of the project; the folder it wrote."""
    built = subprocess.run(
        ["kedro", "viz", "build"],
        cwd=module_project_copy,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert "Success!" in built.stdout, built.stdout
    return module_project_copy / "build"


@pytest.fixture(scope="module")
def viz_site(viz_build: Path) -> Iterator[str]:
    """The built site served over HTTP on 127.0.0.1; its base URL."""

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(viz_build))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_build_holds_every_registered_pipeline_and_no_telemetry(viz_build: Path) -> None:
    main = json.loads((viz_build / "api" / "main").read_text())
    assert {pipeline["id"] for pipeline in main["pipelines"]} == set(register_pipelines())
    assert main["selected_pipeline"] == "__default__"
    for stage in STAGES:
        assert (viz_build / "api" / "pipelines" / stage).is_file()
    # Telemetry is off (.telemetry, KEDRO_DISABLE_TELEMETRY), so no Heap snippet is injected.
    page = (viz_build / "index.html").read_text()
    assert "<script" in page
    assert "heap" not in page.lower()


@needs_chromium
def test_built_page_draws_each_stage_offline(viz_site: str, tmp_path: Path) -> None:
    pipelines = register_pipelines()
    expected = {stage: sorted(node.name for node in pipelines[stage].nodes) for stage in STAGES}

    async def draw_each_stage(devtools: DevTools) -> tuple[list[str], dict, list[str]]:
        await devtools.wait_for(f"{_TASK_NAMES}.length")
        menu = await devtools.evaluate(
            "[...document.querySelectorAll('.pipeline-list .menu-option__content')]"
            ".map(option => option.title)"
        )
        drawn = {}
        for stage, names in expected.items():
            await devtools.call("Page.navigate", url=f"{viz_site}/?pid={stage}")
            # On a timeout the assertion below shows what was drawn instead.
            with contextlib.suppress(TimeoutError):
                await devtools.wait_for(
                    f"JSON.stringify({_TASK_NAMES}) === JSON.stringify({json.dumps(names)})"
                )
            drawn[stage] = await devtools.evaluate(_TASK_NAMES)
        return menu, drawn, await devtools.requested_off_host()

    with headless_chromium(tmp_path / "profile") as browser:
        menu, drawn, elsewhere = asyncio.run(on_page(browser, f"{viz_site}/", draw_each_stage))

    assert set(STAGES) <= set(menu), f"the pipeline menu lists {menu}"
    assert drawn == expected
    assert {urlsplit(url).hostname for url in elsewhere} <= KNOWN_CDN_HOSTS, elsewhere


# The names on the flowchart's task nodes (datasets and parameters excluded), sorted.
_TASK_NAMES = (
    "[...document.querySelectorAll('.pipeline-node--task')].map(g => g.textContent.trim()).sort()"
)
