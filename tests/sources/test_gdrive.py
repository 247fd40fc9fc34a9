"""Google Drive sources: link parsing, and gdown against recorded Drive pages on a local server."""

import hashlib
import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from catdog_pipeline.sources import Limits, SourceError, fetch_source
from catdog_pipeline.sources.gdrive import DriveRef, parse_drive_source

from .fakes import FakeServer, Reply

FIXTURES = Path(__file__).parent / "fixtures"
FILE_ID = "1Zt3k8mQpX7vBn2cR5wYhJ4dLs6fGa9Ke"  # the id in drive_virus_scan_warning.html
UUID = "8e3a1c52-7f4b-4d2e-9a61-0c5b3f7d2e18"
FOLDER_ID = "1FoLdEr0aBcDeFgHiJkLmNoPqRsTuVwXy"
FOLDER_FILES = {  # the files listed in drive_embedded_folder.html
    "1Pq8rT2vW4xY6zA1bC3dE5fG7hJ9kL0mN": ("cat.1.jpg", b"\xff\xd8 cat"),
    "1Nm0kL9jH7gF5eD3cB1aZ6yX4wV2uT8sR": ("dog.1.jpg", b"\xff\xd8 dog"),
}
SIGN_IN = "https://accounts.google.com/ServiceLogin?service=wise&passive=1209600&continue="


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("cats/cat.1.jpg", b"\xff\xd8 cat")
    return buffer.getvalue()


ZIP = _zip_bytes()


def page(name: str, status: int = 200) -> Reply:
    body = (FIXTURES / name).read_bytes()
    return Reply(body, status, headers={"Content-Type": "text/html; charset=utf-8"})


def redirect(location: str) -> Reply:
    return Reply(status=303, headers={"Location": location, "Content-Type": "text/html"})


def attachment(name: str, body: bytes) -> Reply:
    return Reply(body, headers={"Content-Disposition": f'attachment; filename="{name}"'})


def fetch(source: str, cache_dir: Path, sha256: str | None = None) -> Path:
    return fetch_source(source, sha256=sha256, cache_dir=cache_dir, progress=False)


def paths(server: FakeServer) -> list[str]:
    return [seen.path for seen in server.requests]


@pytest.fixture
def drive_site(drive: FakeServer) -> FakeServer:
    """Drive as it behaves today: `uc` redirects to drive.usercontent.google.com, which serves
    the virus-scan warning for FILE_ID until confirmed, small folder files directly, and a
    404 page for an id that is not a file."""

    def usercontent(query: dict[str, str]) -> Reply:
        file_id = query["id"]
        if file_id == FILE_ID:
            confirmed = query.get("confirm") == "t" and query.get("uuid") == UUID
            if confirmed:
                return attachment("cats_and_dogs.zip", ZIP)
            return page("drive_virus_scan_warning.html")
        if file_id in FOLDER_FILES:
            return attachment(*FOLDER_FILES[file_id])
        return Reply(b"<html><title>Not Found</title></html>", 404, {"Content-Type": "text/html"})

    drive.routes["/drive.google.com/uc"] = lambda query: redirect(
        f"https://drive.usercontent.google.com/download?id={query['id']}&export=download"
    )
    drive.routes["/drive.usercontent.google.com/download"] = usercontent
    drive.routes["/drive.google.com/embeddedfolderview"] = page("drive_embedded_folder.html")
    return drive


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (f"gdrive://{FILE_ID}", DriveRef(FILE_ID, "unknown")),
        (f"https://drive.google.com/file/d/{FILE_ID}/view?usp=sharing", DriveRef(FILE_ID, "file")),
        (f"https://drive.google.com/file/d/{FILE_ID}", DriveRef(FILE_ID, "file")),
        (f"https://drive.google.com/file/u/1/d/{FILE_ID}/view", DriveRef(FILE_ID, "file")),
        (f"https://drive.google.com/open?id={FILE_ID}", DriveRef(FILE_ID, "unknown")),
        (f"https://drive.google.com/uc?id={FILE_ID}", DriveRef(FILE_ID, "file")),
        (f"https://drive.google.com/uc?export=download&id={FILE_ID}", DriveRef(FILE_ID, "file")),
        (f"https://drive.google.com/drive/folders/{FOLDER_ID}", DriveRef(FOLDER_ID, "folder")),
        (
            f"https://drive.google.com/drive/folders/{FOLDER_ID}?usp=sharing",
            DriveRef(FOLDER_ID, "folder"),
        ),
        (f"https://drive.google.com/drive/u/0/folders/{FOLDER_ID}", DriveRef(FOLDER_ID, "folder")),
        (f"https://example.org/file/d/{FILE_ID}/view", None),
        ("data/raw/pets.zip", None),
        ("/abs/pets.zip", None),
    ],
)
def test_parse_drive_source(source, expected):
    assert parse_drive_source(source) == expected


@pytest.mark.parametrize(
    "source",
    ["gdrive://", "gdrive://not an id!", "https://drive.google.com/drive/my-drive"],
)
def test_unparseable_drive_source(source):
    with pytest.raises(SourceError, match="Google Drive"):
        parse_drive_source(source)


def test_large_file_confirmation_is_followed(drive_site, tmp_path):
    source = f"https://drive.google.com/file/d/{FILE_ID}/view?usp=sharing"

    path = fetch(source, tmp_path, hashlib.sha256(ZIP).hexdigest())

    assert path.name == "cats_and_dogs.zip" and path.read_bytes() == ZIP
    warning_then_file = 2 * ["/drive.usercontent.google.com/download"]
    assert paths(drive_site) == ["/drive.google.com/uc", *warning_then_file]
    assert drive_site.requests[-1].query == {
        "id": FILE_ID,
        "export": "download",
        "confirm": "t",
        "uuid": UUID,
    }
    assert sorted(p.name for p in path.parent.iterdir()) == ["cats_and_dogs.zip", "meta.json"]

    assert fetch(source, tmp_path) == path  # cached: no new request
    assert len(drive_site.requests) == 3


def test_drive_sha256_mismatch_refuses_download(drive_site, tmp_path):
    with pytest.raises(SourceError, match="was deleted"):
        fetch(f"gdrive://{FILE_ID}", tmp_path, "0" * 64)
    assert not list(tmp_path.rglob("cats_and_dogs.zip"))
    assert not list(tmp_path.rglob("meta.json"))


@pytest.mark.parametrize(
    "source", [f"gdrive://{FOLDER_ID}", f"https://drive.google.com/drive/folders/{FOLDER_ID}"]
)
def test_folder_downloaded_as_directory(drive_site, tmp_path, source):
    path = fetch(source, tmp_path)

    assert path.is_dir() and path.name == "catdog_sample"
    assert {p.name: p.read_bytes() for p in path.iterdir()} == dict(FOLDER_FILES.values())
    assert json.loads((path.parent / "meta.json").read_text())["filename"] == "catdog_sample"
    assert sorted(p.name for p in path.parent.iterdir()) == ["catdog_sample", "meta.json"]


def test_sha256_refused_for_folder_link_before_download(drive_site, tmp_path):
    with pytest.raises(SourceError, match="directory"):
        fetch(f"https://drive.google.com/drive/folders/{FOLDER_ID}", tmp_path, "0" * 64)
    assert drive_site.requests == []


def test_sha256_refused_for_gdrive_id_that_is_a_folder(drive_site, tmp_path):
    with pytest.raises(SourceError, match="directory"):
        fetch(f"gdrive://{FOLDER_ID}", tmp_path, "0" * 64)


@pytest.mark.parametrize(
    "source", [f"https://drive.google.com/file/d/{FILE_ID}/view?usp=sharing", f"gdrive://{FILE_ID}"]
)
def test_quota_exceeded(drive, tmp_path, source):
    drive.routes["/drive.google.com/uc"] = redirect(
        f"https://drive.usercontent.google.com/download?id={FILE_ID}&export=download"
    )
    drive.routes["/drive.usercontent.google.com/download"] = page("drive_quota_exceeded.html")

    with pytest.raises(SourceError) as error:
        fetch(source, tmp_path)

    message = str(error.value)
    assert source in message and "Too many users" in message
    assert "24 h" in message and "Make a copy" in message and "download it by hand" in message
    assert "/drive.google.com/embeddedfolderview" not in paths(drive)  # not retried as a folder


@pytest.mark.parametrize(
    "source",
    [
        f"https://drive.google.com/file/d/{FILE_ID}/view?usp=sharing",
        f"https://drive.google.com/open?id={FILE_ID}",
        f"gdrive://{FILE_ID}",
        f"https://drive.google.com/drive/folders/{FOLDER_ID}",
    ],
)
def test_private_file_or_folder(drive, tmp_path, source):
    """Drive sends anonymous visitors of a private item to the sign-in page."""
    drive.routes["/drive.google.com/uc"] = redirect(
        f"https://drive.usercontent.google.com/download?id={FILE_ID}&export=download"
    )
    drive.routes["/drive.usercontent.google.com/download"] = redirect(SIGN_IN + "x")
    drive.routes["/drive.google.com/embeddedfolderview"] = redirect(SIGN_IN + "y")
    drive.routes["/accounts.google.com/ServiceLogin"] = redirect(
        "https://accounts.google.com/v3/signin/identifier?flowName=GlifWebSignIn"
    )
    drive.routes["/accounts.google.com/v3/signin/identifier"] = page("drive_signin.html")

    with pytest.raises(SourceError) as error:
        fetch(source, tmp_path)

    message = str(error.value)
    assert source in message and "private" in message
    assert "'Anyone with the link'" in message and "download it by hand" in message
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def fetch_limited(source: str, cache_dir: Path, **limits: float) -> Path:
    return fetch_source(
        source, sha256=None, cache_dir=cache_dir, progress=False, limits=Limits(**limits)
    )


def test_drive_file_over_the_size_cap_is_refused_and_not_kept(drive_site, tmp_path):
    with pytest.raises(SourceError, match=f"is {len(ZIP)} bytes, over ingest.max_download_bytes"):
        fetch_limited(f"gdrive://{FILE_ID}", tmp_path, max_bytes=len(ZIP) - 1)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_trickling_drive_file_is_cut_off_at_the_deadline(drive, tmp_path):
    slow = Reply(b"x" * 1000, headers={"Content-Disposition": 'attachment; filename="a.zip"'})
    slow.trickle = 0.05
    drive.routes["/drive.google.com/uc"] = slow

    start = time.monotonic()
    with pytest.raises(SourceError, match="within ingest.download_timeout_s"):
        fetch_limited(f"https://drive.google.com/uc?id={FILE_ID}", tmp_path, timeout_s=1.0)
    assert time.monotonic() - start < 4
