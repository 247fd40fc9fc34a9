"""fetch_source over HTTP: streaming, resume, checksums and the download cache."""

import hashlib
import json
import os
import socket

import pytest
import requests

from catdog_pipeline.sources import SourceError, fetch_source
from catdog_pipeline.sources.cache import entry_dir

from .fakes import FakeServer, Reply

PAYLOAD = os.urandom(3_000_000)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def served(server: FakeServer) -> FakeServer:
    server.routes["/files/data.bin"] = Reply(PAYLOAD)
    return server


def fetch(source, cache_dir, sha256=None):
    return fetch_source(source, sha256=sha256, cache_dir=cache_dir, progress=False)


def test_downloads_into_cache_entry_with_meta(served, tmp_path):
    url = served.url("/files/data.bin")

    path = fetch(url, tmp_path)

    assert path == entry_dir(tmp_path, url) / "data.bin"
    assert path.read_bytes() == PAYLOAD
    meta = json.loads((path.parent / "meta.json").read_text())
    assert meta == {"source": url, "filename": "data.bin", "sha256": DIGEST}
    assert not list(path.parent.glob("*.part"))


def test_entry_key_is_first_16_hex_of_source_sha256(tmp_path):
    key = hashlib.sha256(b"https://example.org/x.zip").hexdigest()[:16]
    assert entry_dir(tmp_path, "https://example.org/x.zip") == tmp_path / key


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/get", {"Content-Disposition": 'attachment; filename="cats.zip"'}, "cats.zip"),
        (
            "/get",
            {"Content-Disposition": "attachment; filename*=UTF-8''chats%20%C3%A9.zip"},
            "chats é.zip",
        ),
        ("/a/b/archive%20v2.tgz", {}, "archive v2.tgz"),
        ("/", {}, "download"),
    ],
)
def test_filename(server, tmp_path, path, headers, expected):
    server.routes[path] = Reply(b"x", headers=headers)

    assert fetch(server.url(path), tmp_path).name == expected


def test_progress_bar_goes_to_stderr(served, tmp_path, capsys):
    fetch_source(served.url("/files/data.bin"), sha256=None, cache_dir=tmp_path, progress=True)

    captured = capsys.readouterr()
    assert "data.bin" in captured.err
    assert captured.out == ""


def test_sha256_ok(served, tmp_path):
    assert fetch(served.url("/files/data.bin"), tmp_path, DIGEST.upper()).read_bytes() == PAYLOAD


def test_sha256_mismatch_deletes_download_and_leaves_entry_incomplete(served, tmp_path):
    url = served.url("/files/data.bin")

    with pytest.raises(SourceError) as error:
        fetch(url, tmp_path, "0" * 64)

    message = str(error.value)
    assert "0" * 64 in message and DIGEST in message and "ingest.sha256" in message
    assert sorted(p.name for p in entry_dir(tmp_path, url).iterdir()) == []


def test_malformed_sha256(served, tmp_path):
    with pytest.raises(SourceError, match="ingest.sha256"):
        fetch(served.url("/files/data.bin"), tmp_path, "abc")
    assert served.requests == []


def test_cache_hit_makes_no_request(served, tmp_path):
    url = served.url("/files/data.bin")
    first = fetch(url, tmp_path)

    assert fetch(url, tmp_path) == first
    assert fetch(url, tmp_path, DIGEST) == first
    assert len(served.requests) == 1


def test_cached_file_failing_sha256_is_fetched_again(served, tmp_path):
    url = served.url("/files/data.bin")
    fetch(url, tmp_path).write_bytes(b"corrupted")

    assert fetch(url, tmp_path, DIGEST).read_bytes() == PAYLOAD
    assert len(served.requests) == 2


def test_dropped_connection_resumes_with_range(served, tmp_path):
    served.routes["/files/data.bin"] = Reply(PAYLOAD, drop_after=600_000, drops=1)

    path = fetch(served.url("/files/data.bin"), tmp_path, DIGEST)

    assert path.read_bytes() == PAYLOAD
    first, second = served.requests
    assert "Range" not in first.headers
    offset = int(second.headers["Range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < offset <= 600_000


def test_interrupted_download_is_resumed_by_next_call(served, tmp_path):
    url = served.url("/files/data.bin")
    # Each attempt keeps what arrived in whole 256 KiB chunks: three attempts fall short.
    served.routes["/files/data.bin"] = Reply(PAYLOAD, drop_after=600_000, drops=3)

    with pytest.raises(SourceError, match="run again"):
        fetch(url, tmp_path)
    (part,) = entry_dir(tmp_path, url).glob("*.part")
    assert part.name == "data.bin.part"
    kept = part.stat().st_size
    assert 0 < kept < len(PAYLOAD)
    assert not (part.parent / "meta.json").exists()

    assert fetch(url, tmp_path, DIGEST).read_bytes() == PAYLOAD
    assert served.requests[-1].headers["Range"] == f"bytes={kept}-"


def test_server_ignoring_range_restarts(served, tmp_path):
    url = served.url("/files/data.bin")
    served.routes["/files/data.bin"] = Reply(PAYLOAD, ranges=False)
    entry = entry_dir(tmp_path, url)
    entry.mkdir()
    (entry / "data.bin.part").write_bytes(b"stale bytes from another version")

    assert fetch(url, tmp_path).read_bytes() == PAYLOAD
    assert served.requests[0].headers["Range"] == "bytes=32-"


def test_complete_part_file_answered_416_is_downloaded_again(served, tmp_path):
    url = served.url("/files/data.bin")
    entry = entry_dir(tmp_path, url)
    entry.mkdir()
    (entry / "data.bin.part").write_bytes(PAYLOAD)

    assert fetch(url, tmp_path, DIGEST).read_bytes() == PAYLOAD
    assert [s.headers.get("Range") for s in served.requests] == [f"bytes={len(PAYLOAD)}-", None]


@pytest.mark.parametrize("status", [404, 403, 500])
def test_http_error(server, tmp_path, status):
    server.routes["/missing.zip"] = Reply(b"nope", status=status)
    url = server.url("/missing.zip")

    with pytest.raises(SourceError, match=f"{url} failed with HTTP {status}"):
        fetch(url, tmp_path)
    assert len(server.requests) == 1


def test_unreachable_server(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(SourceError, match=f"Could not download http://127.0.0.1:{port}/x.zip"):
        fetch(f"http://127.0.0.1:{port}/x.zip", tmp_path)


def test_tests_cannot_reach_the_network():
    with pytest.raises(requests.ConnectionError, match="disabled in tests"):
        requests.get("http://example.org/", timeout=5)
