"""A scripted local HTTP server for the tests, and a requests adapter that routes to it."""

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter


@dataclass
class Reply:
    """What the fake server answers on one route."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    ranges: bool = True  # answer `Range: bytes=N-` with 206 (416 past the end)
    drop_after: int | None = None  # close the connection after this many body bytes...
    drops: int = 0  # ...in this many responses
    trickle: float | None = None  # send the body one byte per this many seconds
    length: int | None = None  # the Content-Length to declare (None: the body's; -1: none)


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class FakeServer:
    base: str = ""
    routes: dict[str, Reply | Callable[[dict[str, str]], Reply]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


def make_handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            fake.requests.append(Seen(parts.path, query, dict(self.headers)))
            route = fake.routes.get(parts.path, Reply(b"no such route", 404))
            self._send(route(query) if callable(route) else route)

        def _send(self, reply: Reply) -> None:
            body, status = reply.body, reply.status
            headers = {"Content-Type": "application/octet-stream", **reply.headers}
            wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
            if wanted and reply.ranges and status == 200:
                start = int(wanted[1])
                if start >= len(body):
                    status, headers["Content-Range"] = 416, f"bytes */{len(body)}"
                else:
                    status = 206
                    headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                body = body[start:] if status == 206 else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            length = len(body) if reply.length is None else reply.length
            if length >= 0:
                self.send_header("Content-Length", str(length))
            self.end_headers()
            if reply.drop_after is not None and reply.drops > 0:
                reply.drops -= 1
                body = body[: reply.drop_after]  # the connection closes after this
            with contextlib.suppress(OSError):  # the client gave up
                self._write(body, reply.trickle)

        def _write(self, body: bytes, trickle: float | None) -> None:
            if trickle is None:
                self.wfile.write(body)
                return
            for byte in body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(trickle)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class ToFakeServer(HTTPAdapter):
    """Sends each request to the fake server, as `/<original host><path>?<query>`.

    Responses keep the original URL, so redirects and cookies behave as with the real hosts.
    """

    def __init__(self, base: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # a mixin: gdown's cancellable adapter takes `cancel`
        self._netloc = urlsplit(base).netloc

    def send(self, request: requests.PreparedRequest, **kwargs: object) -> requests.Response:
        parts = urlsplit(request.url)
        local = request.copy()
        path = f"/{parts.hostname}{parts.path}"
        local.url = urlunsplit(("http", self._netloc, path, parts.query, ""))
        response = super().send(local, **kwargs)
        response.url, response.request = request.url, request
        return response
