"""Fixtures for `catdog_pipeline.sources`: a scripted local HTTP server, and no real network."""

import socket
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import gdown._cancellation
import pytest
import requests

from .fakes import FakeServer, ToFakeServer, make_handler


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse name resolution of anything but 127.0.0.1/localhost: no test reaches the net."""
    real = socket.getaddrinfo

    def local_only(host: object, *args: object, **kwargs: object) -> object:
        if host not in ("127.0.0.1", "localhost", b"127.0.0.1", b"localhost"):
            raise OSError(f"network access to {host!r} is disabled in tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    fake = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    fake.base = f"http://127.0.0.1:{httpd.server_port}"
    yield fake
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def drive(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """Route gdown to the fake server: gdown builds its sessions with `requests.session()`,
    so that factory returns sessions whose every request goes to the fake server (also
    through the adapter gdown mounts to cancel a download)."""

    def session() -> requests.Session:
        routed = requests.Session()
        routed.mount("https://", ToFakeServer(server.base))
        routed.mount("http://", ToFakeServer(server.base))
        return routed

    def cancellable(*, cancel: threading.Event) -> requests.adapters.HTTPAdapter:
        return CancellableToFakeServer(server.base, cancel=cancel)

    monkeypatch.setattr(requests, "session", session)
    # gdown mounts its own adapter on the session when given a `cancel` event.
    monkeypatch.setattr(gdown._cancellation, "_CancellableAdapter", cancellable)
    return server


class CancellableToFakeServer(ToFakeServer, gdown._cancellation._CancellableAdapter):
    """gdown's cancellable adapter, sending every request to the fake server."""
