"""Fixtures for the ingest tests: parameters with their own cache and staging, a web folder."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CLASSES = {"cat": ["cats"], "dog": ["dogs", "puppy"]}


def write_dump(root: Path, make_image) -> Path:
    make_image(root / "PetImages/Cat/1.jpg", seed=1)
    make_image(root / "PetImages/Dog/2.jpg", seed=2)
    make_image(root / "PetImages/unknown/3.jpg", seed=3)
    (root / "PetImages/Cat/Thumbs.db").write_bytes(b"thumbs")
    (root / "PetImages/readme.txt").write_text("photos")
    return root


@pytest.fixture
def ingest_params(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., dict]:
    monkeypatch.setenv("CATDOG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CATDOG_STAGING_DIR", str(tmp_path / "staging"))

    def params(source: Path | str, **overrides: object) -> dict:
        return {
            "source": str(source),
            "sha256": None,
            "max_uncompressed_bytes": 10**8,
            "max_download_bytes": 10**8,
            "download_timeout_s": 30,
            **overrides,
        }

    return params


@pytest.fixture
def web_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (a stand-in for any download site)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
