"""The API docs work offline: /docs (Swagger UI) and /redoc load everything from the service.

In headless Chromium every host but 127.0.0.1 fails to resolve, so a page that still needed a
CDN would render blank here, and the test also names any request that tried to leave.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.browser import DevTools, headless_chromium, needs_chromium, on_page

from catdog_pipeline.serving.docs import ASSETS_URL, REDOC_CSP

_OPERATIONS = (
    "[...document.querySelectorAll('.opblock')].map(block =>"
    " block.querySelector('.opblock-summary-method').textContent + ' '"
    " + block.querySelector('.opblock-summary-path').dataset.path)"
)


def test_docs_pages_point_only_at_the_service(client) -> None:
    for page, assets in (("/docs", 3), ("/redoc", 2)):
        answer = client.get(page)
        assert answer.status_code == 200
        linked = re.findall(r'(?:src|href)="([^"]*)"', answer.text)
        assert len(linked) == assets, linked
        for url in linked:
            assert url.startswith(f"{ASSETS_URL}/"), f"{page} links to {url}"
            assert client.get(url).status_code == 200, url
        assert "//" not in "".join(linked)
    assert client.get("/redoc").headers["content-security-policy"] == REDOC_CSP
    # FastAPI's own CDN page is not what answers.
    assert "cdn.jsdelivr.net" not in client.get("/docs").text


@needs_chromium
def test_swagger_ui_shows_the_operations_and_a_file_picker_offline(live_server, tmp_path: Path):
    async def try_predict(devtools: DevTools) -> tuple[list[str], int, list[str]]:
        await devtools.wait_for(f"{_OPERATIONS}.length >= 2")
        operations = await devtools.evaluate(_OPERATIONS)
        # Open POST /predict and press "Try it out": the request body offers a file picker.
        await devtools.evaluate(
            "document.querySelector('.opblock-post .opblock-summary-control').click()"
        )
        await devtools.wait_for("!!document.querySelector('.opblock-post .try-out__btn')")
        await devtools.evaluate("document.querySelector('.opblock-post .try-out__btn').click()")
        pickers = await devtools.wait_for(
            "document.querySelectorAll('.opblock-post input[type=file]').length"
        )
        return operations, pickers, await devtools.requested_off_host()

    with headless_chromium(tmp_path / "profile") as browser:
        operations, pickers, elsewhere = asyncio.run(
            on_page(browser, f"{live_server}/docs", try_predict)
        )

    assert sorted(operations) == ["GET /health", "GET /metrics", "POST /predict"]
    assert pickers >= 1
    assert elsewhere == []


@needs_chromium
def test_redoc_shows_the_operations_offline(live_server, tmp_path: Path):
    async def read(devtools: DevTools) -> tuple[str, list[str]]:
        section = "document.querySelector('[data-section-id=\"operation/predict_predict_post\"]')"
        text = await devtools.wait_for(f"{section}?.textContent")
        return text, await devtools.requested_off_host()

    with headless_chromium(tmp_path / "profile") as browser:
        text, elsewhere = asyncio.run(on_page(browser, f"{live_server}/redoc", read))

    assert "Classify one or more images" in text
    assert "multipart/form-data" in text
    assert elsewhere == []
