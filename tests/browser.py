"""Headless Chromium for the browser tests, driven over the Chrome DevTools Protocol.

For tests/serving/test_upload_page.py and tests/test_mlflow_ui_browser.py: Debian's Chromium
with a fresh profile, aiohttp's websocket client (already a dependency, through DVC) for the
protocol, and a skip that says why where Chromium is missing. Every request a page makes is
recorded, and host names other than 127.0.0.1 do not resolve: a page that needs the internet
fails here the way it would offline, and the test can name what it tried to load. A request the
page's own Content-Security-Policy stopped never left the browser, so it does not count.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import pytest

CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)"
)
TIMEOUT_S = 30
QUIET_S = 1.0  # a page that sent nothing for this long is taken to be done loading
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Only 127.0.0.1 resolves: anything else fails as it would on a machine without internet.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)
LOCAL_SCHEMES = ("data", "blob", "about", "chrome-error")
T = TypeVar("T")


class DevTools:
    """Just enough of the DevTools Protocol: call a method, wait for its answer, keep events."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.last_id = 0
        self.requests: dict[str, str] = {}  # request id -> URL, every request the page made
        self.pending: set[str] = set()  # ids of off-host requests not yet finished or failed
        self.stopped_by_csp: set[str] = set()

    async def call(self, method: str, **params: Any) -> dict:
        """Send `method` and return its result; requests announced meanwhile are recorded."""
        self.last_id += 1
        await self.socket.send_json({"id": self.last_id, "method": method, "params": params})
        while True:
            message = json.loads((await self.socket.receive(timeout=TIMEOUT_S)).data)
            self._record(message.get("method"), message.get("params", {}))
            if message.get("id") == self.last_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def _record(self, event: str | None, params: dict) -> None:
        if event == "Network.requestWillBeSent":
            self.requests[params["requestId"]] = params["request"]["url"]
            if _off_host(params["request"]["url"]):
                self.pending.add(params["requestId"])
        elif event in ("Network.loadingFinished", "Network.loadingFailed"):
            self.pending.discard(params["requestId"])
            if params.get("blockedReason") == "csp":
                self.stopped_by_csp.add(params["requestId"])

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str) -> Any:
        """Poll `expression` until it is truthy; return its value."""
        deadline = time.monotonic() + TIMEOUT_S
        while not (value := await self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {TIMEOUT_S} s: {expression}")
            await asyncio.sleep(0.1)
        return value

    async def requested_off_host(self) -> list[str]:
        """Once the page is quiet: every URL it sent beyond 127.0.0.1.

        Quiet means no new request for QUIET_S and none off-host still in flight. data: and
        blob: URLs are local; requests the page's CSP stopped were never sent.
        """
        deadline = time.monotonic() + TIMEOUT_S
        count, quiet_since = len(self.requests), time.monotonic()
        while self.pending or time.monotonic() - quiet_since < QUIET_S:
            if time.monotonic() > deadline:
                raise TimeoutError(f"still loading: {[self.requests[i] for i in self.pending]}")
            await asyncio.sleep(0.1)
            await self.call("Runtime.evaluate", expression="0")  # picks up waiting events
            if len(self.requests) != count:
                count, quiet_since = len(self.requests), time.monotonic()
        return [
            url
            for request, url in self.requests.items()
            if _off_host(url) and request not in self.stopped_by_csp
        ]


def _off_host(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme not in LOCAL_SCHEMES and parts.hostname != "127.0.0.1"


@contextmanager
def headless_chromium(profile: Path) -> Iterator[str]:
    """Start Chromium with a fresh profile in `profile`; yield its DevTools HTTP address."""
    assert CHROMIUM is not None, "mark the test with needs_chromium"
    browser = subprocess.Popen(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,900",
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


async def on_page(devtools_address: str, url: str, steps: Callable[[DevTools], Awaitable[T]]) -> T:
    """Open `url` in the browser's first tab, recording its requests; run `steps` there."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://{devtools_address}/json/list") as answer:
            tab = next(t for t in await answer.json() if t["type"] == "page")
        async with session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0) as socket:
            devtools = DevTools(socket)
            await devtools.call("Network.enable")
            await devtools.call("Page.enable")
            await devtools.call("Page.navigate", url=url)
            await devtools.wait_for("document.readyState === 'complete'")
            return await steps(devtools)
