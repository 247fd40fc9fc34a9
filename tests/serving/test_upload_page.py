"""The upload page in headless Chromium: pick or drop a photo, see it and its label.

Chromium is driven over the Chrome DevTools Protocol with aiohttp's websocket client (already a
dependency, through DVC). Skips where Chromium is not installed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
)
TIMEOUT_S = 30


class DevTools:
    """Just enough of the DevTools Protocol: call a method, wait for its answer."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.last_id = 0

    async def call(self, method: str, **params) -> dict:
        self.last_id += 1
        await self.socket.send_json({"id": self.last_id, "method": method, "params": params})
        while True:
            message = json.loads((await self.socket.receive(timeout=TIMEOUT_S)).data)
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    async def evaluate(self, expression: str):
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str):
        """Poll `expression` until it is truthy; return its value."""
        deadline = time.monotonic() + TIMEOUT_S
        while not (value := await self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {TIMEOUT_S} s: {expression}")
            await asyncio.sleep(0.1)
        return value


@pytest.fixture
def chromium(tmp_path: Path):
    """A headless Chromium with a fresh profile; yields its DevTools HTTP address."""
    profile = tmp_path / "profile"
    browser = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=900,900",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Chromium writes the port it picked into the profile folder.
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT_S
        while not (port_file.exists() and port_file.read_text().strip()):
            assert browser.poll() is None, "Chromium exited at start-up"
            assert time.monotonic() < deadline, "Chromium did not open DevTools in time"
            time.sleep(0.1)
        yield f"127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        browser.terminate()
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()


async def _on_upload_page(devtools_address: str, page_url: str, steps):
    """Open `page_url` in the browser's first tab and run `steps(devtools)` there."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{devtools_address}/json/list") as answer:
            tab = next(t for t in await answer.json() if t["type"] == "page")
        async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as socket:
            devtools = DevTools(socket)
            await devtools.call("Page.enable")
            await devtools.call("Page.navigate", url=page_url)
            await devtools.wait_for(
                "document.readyState === 'complete' && !!document.getElementById('picker')"
            )
            return await steps(devtools)


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

    async def pick_photo(devtools: DevTools) -> dict:
        document = await devtools.call("DOM.getDocument")
        picker = await devtools.call(
            "DOM.querySelector", nodeId=document["root"]["nodeId"], selector="#picker"
        )
        await devtools.call("DOM.setFileInputFiles", files=[str(dog)], nodeId=picker["nodeId"])
        outcome = await _result(devtools)
        shot = await devtools.call("Page.captureScreenshot", format="png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        return outcome

    outcome = asyncio.run(_on_upload_page(chromium, f"{live_server}/", pick_photo))
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
