"""The upload page in headless Chromium: pick or drop a photo, see it and its label.

Chromium is driven with tests/browser.py (skips only where Chromium is not installed).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from tests.browser import DevTools, headless_chromium, needs_chromium, on_page

pytestmark = needs_chromium
T = TypeVar("T")


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium with a fresh profile; yields its DevTools HTTP address."""
    with headless_chromium(tmp_path / "profile") as address:
        yield address


async def _on_upload_page(
    devtools_address: str, page_url: str, steps: Callable[[DevTools], Awaitable[T]]
) -> T:
    """Open `page_url` once its picker is there, and run `steps(devtools)`."""

    async def when_ready(devtools: DevTools) -> T:
        await devtools.wait_for("!!document.getElementById('picker')")
        return await steps(devtools)

    return await on_page(devtools_address, page_url, when_ready)


async def _result(devtools: DevTools) -> dict:
    await devtools.wait_for("['done', 'error'].includes(result.dataset.state)")
    return await devtools.evaluate(
        "({state: result.dataset.state, text: result.textContent, label: result.dataset.label,"
        " shown: !preview.hidden && preview.complete && preview.naturalWidth > 0})"
    )


def test_a_picked_photo_is_shown_with_its_label(chromium, live_server, tmp_path, photo):
    dog = tmp_path / "rex.jpg"
    dog.write_bytes(photo("red", (240, 180)))
    screenshot = tmp_path / "upload-page.png"

    async def pick_photo(devtools: DevTools) -> tuple[dict, list[str]]:
        document = await devtools.call("DOM.getDocument")
        picker = await devtools.call(
            "DOM.querySelector", nodeId=document["root"]["nodeId"], selector="#picker"
        )
        await devtools.call("DOM.setFileInputFiles", files=[str(dog)], nodeId=picker["nodeId"])
        outcome = await _result(devtools)
        shot = await devtools.call("Page.captureScreenshot", format="png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        return outcome, await devtools.requested_off_host()

    outcome, off_host = asyncio.run(_on_upload_page(chromium, f"{live_server}/", pick_photo))
    assert off_host == [], "the page works offline: it loads nothing beyond the service"
    assert outcome["state"] == "done", outcome["text"]
    assert outcome["label"] == "dog"
    assert outcome["text"].startswith("dog (")
    assert outcome["shown"], "the photo is not shown"
    assert screenshot.stat().st_size > 5_000


def test_a_dropped_photo_gets_its_label_and_a_bad_file_its_reason(chromium, live_server, photo):
    cat = base64.b64encode(photo("blue", (120, 160))).decode()

    def drop(data_base64: str, name: str) -> str:
        return f"""(async () => {{
            const bytes = Uint8Array.from(atob("{data_base64}"), c => c.charCodeAt(0));
            const dropped = new DataTransfer();
            dropped.items.add(new File([bytes], "{name}", {{type: "image/jpeg"}}));
            delete result.dataset.state;
            drop.dispatchEvent(new DragEvent("drop", {{dataTransfer: dropped, bubbles: true}}));
            return true;
        }})()"""

    async def drop_photos(devtools: DevTools) -> tuple[dict, dict]:
        await devtools.evaluate(drop(cat, "tom.jpg"))
        dropped_cat = await _result(devtools)
        await devtools.evaluate(drop(base64.b64encode(b"not a photo").decode(), "notes.jpg"))
        return dropped_cat, await _result(devtools)

    dropped_cat, not_a_photo = asyncio.run(
        _on_upload_page(chromium, f"{live_server}/", drop_photos)
    )
    assert (dropped_cat["state"], dropped_cat["label"]) == ("done", "cat")
    assert dropped_cat["shown"]
    assert not_a_photo["state"] == "error"
    assert "notes.jpg" in not_a_photo["text"]
    assert "no image format recognises its content" in not_a_photo["text"]
    assert not not_a_photo["shown"]
