"""Hostile and broken uploads against a real uvicorn: each gets its 4xx and reason, never a 5xx,
and the service keeps answering."""

from __future__ import annotations

import io
import itertools
import socket
import struct
import zlib
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
from PIL import Image

ROUNDS = 14  # x the cases below: well over 200 requests
# name -> (expected status, expected error code, () -> httpx.post keyword arguments)
Case = tuple[int, str, Callable[[], dict]]
CLIENTS = 4


def _encoded(fmt: str, size=(32, 32), noise: bool = True) -> bytes:
    shape = (size[1], size[0], 3)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8) if noise else np.zeros(shape, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header claims width x height: a decompression bomb's calling card."""
    png = bytearray(_encoded("PNG", (8, 8)))
    ihdr = png.index(b"IHDR")
    png[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(png[ihdr : ihdr + 17]))
    png[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(png)


def _jpeg_claiming(width: int, height: int) -> bytes:
    jpeg = bytearray(_encoded("JPEG"))
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(jpeg)


def _png_with_corrupt_pixels() -> bytes:
    png = bytearray(_encoded("PNG", (64, 64)))
    idat = png.index(b"IDAT")
    png[idat + 20 : idat + 60] = b"\x00" * 40
    return bytes(png)


def _streamed_multipart(total: int):
    yield (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="huge.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n"
    )
    for _ in range(total // 50_000):
        yield b"\xff" * 50_000
    yield b"\r\n--b--\r\n"


def _file(name: str, data: bytes, media_type: str = "image/jpeg") -> dict:
    return {"files": [("file", (name, data, media_type))]}


def _cases(limits) -> dict[str, Case]:
    """Every kind of bad upload, sized against the service's limits."""
    jpeg = _encoded("JPEG")
    oversize = limits.max_body_bytes + 100_000
    multipart = {"content-type": "multipart/form-data; boundary=b"}
    return {
        "not an image": (415, "not_an_image", lambda: _file("a.jpg", b"hello, I am text" * 20)),
        "empty file": (400, "empty", lambda: _file("a.jpg", b"")),
        "truncated jpeg": (422, "truncated", lambda: _file("a.jpg", jpeg[: len(jpeg) // 2])),
        "truncated png": (422, "truncated", lambda: _file("a.png", _encoded("PNG")[:60])),
        "corrupt png": (422, "truncated", lambda: _file("a.png", _png_with_corrupt_pixels())),
        "png bomb": (
            413,
            "decompression_bomb",
            lambda: _file("a.png", _png_claiming(10**5, 10**5)),
        ),
        "jpeg bomb": (
            413,
            "decompression_bomb",
            lambda: _file("a.jpg", _jpeg_claiming(60000, 60000)),
        ),
        "too many pixels": (
            413,
            "decompression_bomb",
            lambda: _file("a.png", _encoded("PNG", (2000, 600), noise=False)),
        ),
        "tiff by content": (
            415,
            "unsupported_format",
            lambda: _file("a.bin", _encoded("TIFF"), "application/octet-stream"),
        ),
        "ico by content": (
            415,
            "unsupported_format",
            lambda: _file("a.ico", _encoded("ICO"), "application/octet-stream"),
        ),
        "wrong part type": (
            415,
            "unsupported_media_type",
            lambda: _file("a.txt", jpeg, "text/plain"),
        ),
        "tiff media type": (
            415,
            "unsupported_media_type",
            lambda: _file("a.tif", jpeg, "image/tiff"),
        ),
        "json body": (415, "not_multipart", lambda: {"json": {"file": "rex.jpg"}}),
        "no content type": (415, "not_multipart", lambda: {"content": jpeg}),
        "no boundary": (
            400,
            "bad_multipart",
            lambda: {"content": jpeg, "headers": {"content-type": "multipart/form-data"}},
        ),
        "garbage multipart": (
            400,
            "bad_multipart",
            lambda: {"content": b"--b\r\n\x00\x01garbage\r\n", "headers": multipart},
        ),
        "too many files": (
            400,
            "bad_multipart",
            lambda: {"files": [("file", ("a.jpg", jpeg, "image/jpeg"))] * (limits.max_files + 1)},
        ),
        "wrong field": (
            422,
            "no_file",
            lambda: {"files": [("image", ("a.jpg", jpeg, "image/jpeg"))]},
        ),
        "text in file field": (
            422,
            "not_a_file",
            lambda: {"data": {"file": "rex.jpg"}, "files": [("other", ("a.jpg", jpeg))]},
        ),
        "file without a name": (422, "not_a_file", lambda: _file("", jpeg)),
        "body too large": (413, "request_too_large", lambda: _file("a.jpg", b"\xff" * oversize)),
        "streamed body too large": (
            413,
            "request_too_large",
            lambda: {"content": _streamed_multipart(oversize), "headers": multipart},
        ),
    }


def _send(client: httpx.Client, case: Case) -> httpx.Response:
    return client.post("/predict", **case[2]())


def test_every_kind_of_bad_upload_gets_its_4xx_and_the_service_survives(
    live_server, serve_limits, photo
):
    cases = _cases(serve_limits)
    plan = [name for _ in range(ROUNDS) for name in cases]
    assert len(plan) >= 200
    clients = [httpx.Client(base_url=live_server, timeout=30) for _ in range(CLIENTS)]
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(
                pool.map(
                    lambda job: (job[1], _send(job[0], cases[job[1]])),
                    zip(itertools.cycle(clients), plan),
                )
            )
        statuses = Counter((name, answer.status_code) for name, answer in answers)
        assert not [key for key in statuses if key[1] >= 500], statuses
        for name, answer in answers:
            expected_status, expected_error, _ = cases[name]
            assert (name, answer.status_code) == (name, expected_status), answer.text
            assert answer.json()["error"] == expected_error, (name, answer.text)
            assert answer.json()["detail"], name

        health = clients[0].get("/health")
        assert health.status_code == 200
        good = clients[0].post("/predict", **_file("rex.jpg", photo("red")))
        assert good.status_code == 200
        assert good.json()["predictions"][0]["label"] == "dog"
    finally:
        for client in clients:
            client.close()


def test_an_announced_huge_body_is_refused_before_it_is_sent(live_server):
    """With Expect: 100-continue the client learns of the 413 without sending 10 GB."""
    host, port = live_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /predict HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n"
        )
        head = connection.recv(4096)
    assert head.startswith(b"HTTP/1.1 413"), head


@pytest.mark.parametrize("name", ["../../etc/passwd", "p\u00e9t \U0001f436.jpg", "x" * 300])
def test_odd_file_names_are_only_echoed(live_server, photo, name):
    answer = httpx.post(f"{live_server}/predict", **_file(name, photo("blue")), timeout=30)
    assert answer.status_code == 200
    prediction = answer.json()["predictions"][0]
    assert prediction["label"] == "cat"
    assert prediction["filename"] == name
