"""HTTP downloads are bounded (size, time) and never show or store credentials."""

import base64
import gzip
import json
import logging
import time

import pytest

from catdog_pipeline.sources import Limits, SourceError, fetch_source, redact_url
from catdog_pipeline.sources.cache import entry_dir

from .fakes import FakeServer, Reply

GZIPPED = {"Content-Encoding": "gzip"}


def fetch(source, cache_dir, **limits):
    return fetch_source(
        source, sha256=None, cache_dir=cache_dir, progress=False, limits=Limits(**limits)
    )


def test_trickling_server_is_cut_off_at_the_deadline(server: FakeServer, tmp_path):
    server.routes["/slow.zip"] = Reply(b"x" * 1000, trickle=0.05)
    url = server.url("/slow.zip")

    start = time.monotonic()
    with pytest.raises(SourceError, match="within ingest.download_timeout_s") as error:
        fetch(url, tmp_path, timeout_s=1.0)

    assert time.monotonic() - start < 3
    assert url in str(error.value) and "run again" in str(error.value).lower()
    (part,) = entry_dir(tmp_path, url).glob("*.part")  # kept, so the next run resumes
    assert 0 < part.stat().st_size < 1000


def test_declared_size_over_the_cap_is_refused_before_reading(server: FakeServer, tmp_path):
    server.routes["/huge.zip"] = Reply(b"x" * 100, length=50 * 10**9)
    url = server.url("/huge.zip")

    with pytest.raises(SourceError, match="ingest.max_download_bytes") as error:
        fetch(url, tmp_path, max_bytes=10**6)

    assert f"{url} is {50 * 10**9} bytes" in str(error.value)
    assert list(entry_dir(tmp_path, url).iterdir()) == []


def test_undeclared_size_is_capped_while_streaming(server: FakeServer, tmp_path):
    server.routes["/endless.zip"] = Reply(b"x" * 3_000_000, length=-1)
    url = server.url("/endless.zip")

    with pytest.raises(SourceError, match="sends more than 1000000 bytes"):
        fetch(url, tmp_path, max_bytes=10**6)

    assert list(entry_dir(tmp_path, url).iterdir()) == []
    assert len(server.requests) == 1


def test_within_limits_downloads(server: FakeServer, tmp_path):
    server.routes["/ok.zip"] = Reply(b"x" * 1000)
    path = fetch(server.url("/ok.zip"), tmp_path, max_bytes=1000, timeout_s=10)
    assert path.read_bytes() == b"x" * 1000


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://user:s3cret@host/x.zip", "https://***@host/x.zip"),
        ("failed: http://token@h:8080/a?b=c@d.", "failed: http://***@h:8080/a?b=c@d."),
        ("https://u:p@ss@host/x", "https://***@host/x"),
        ("https://host/a@b.zip and /local/path", "https://host/a@b.zip and /local/path"),
    ],
)
def test_redact_url(text, shown):
    assert redact_url(text) == shown


def test_credentials_in_the_url_are_never_shown_or_stored(server: FakeServer, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    server.routes["/data.zip"] = Reply(b"payload")
    server.routes["/gone.zip"] = Reply(b"nope", status=404)
    secret = f"http://alice:s3cret@{server.base.removeprefix('http://')}"

    path = fetch(f"{secret}/data.zip", tmp_path)
    with pytest.raises(SourceError) as error:
        fetch(f"{secret}/gone.zip", tmp_path)

    assert (
        server.requests[0].headers["Authorization"]
        == "Basic " + base64.b64encode(b"alice:s3cret").decode()
    )
    assert "s3cret" not in str(error.value) and "***@" in str(error.value)
    assert "carries a user name or password" in caplog.text and "netrc" in caplog.text
    meta = json.loads((path.parent / "meta.json").read_text())
    assert meta["source"] == f"http://***@{server.base.removeprefix('http://')}/data.zip"
    stored = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert "s3cret" not in stored + caplog.text and "alice" not in stored + caplog.text


def test_credentials_from_netrc(server: FakeServer, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login bob password hunter2\n")
    monkeypatch.setenv("NETRC", str(netrc))
    server.routes["/private.zip"] = Reply(b"payload")

    assert fetch(server.url("/private.zip"), tmp_path / "cache").read_bytes() == b"payload"
    assert (
        server.requests[0].headers["Authorization"]
        == "Basic " + base64.b64encode(b"bob:hunter2").decode()
    )


def test_refusal_explains_how_to_pass_credentials(server: FakeServer, tmp_path):
    server.routes["/private.zip"] = Reply(b"who are you", status=401)
    with pytest.raises(SourceError, match="netrc"):
        fetch(server.url("/private.zip"), tmp_path)


def test_a_body_gzipped_against_our_wishes_is_saved_decoded(server: FakeServer, tmp_path):
    server.routes["/data.bin"] = Reply(gzip.compress(b"payload" * 100), headers=GZIPPED)
    assert (
        fetch(server.url("/data.bin"), tmp_path, max_bytes=10**6).read_bytes() == b"payload" * 100
    )
