"""safe_extract and is_archive on well-formed, hostile, oversized and broken archives."""

import io
import stat
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from catdog_pipeline.sources import (
    DamagedFileError,
    ExtractionReport,
    RejectedEntry,
    SourceError,
    archives,
    is_archive,
    safe_extract,
)

GOOD = {"cats/cat.1.jpg": b"meow" * 100, "dogs/big/dog.1.jpg": b"woof" * 200}


def extract(archive: Path, target: Path, cap: int = 10**6) -> ExtractionReport:
    return safe_extract(archive, target, max_total_bytes=cap, progress=False)


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cats/", b"")
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def zip_entry(zf: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    zf.writestr(info, data)


def tar_entry(tf: tarfile.TarFile, name: str, data: bytes = b"", **attrs: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tf.addfile(info, io.BytesIO(data) if data else None)


def make_tar(path: Path, mode: str, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, mode) as tf:
        tar_entry(tf, "./", type=tarfile.DIRTYPE)
        for name, data in members.items():
            tar_entry(tf, f"./{name}", data)
    return path


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "staging" / "target"  # `../evil` would land in tmp_path/staging


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("pets.zip", lambda p: make_zip(p, GOOD)),
        ("pets.tar", lambda p: make_tar(p, "w", GOOD)),
        ("pets.tar.gz", lambda p: make_tar(p, "w:gz", GOOD)),
        ("pets.tgz", lambda p: make_tar(p, "w:gz", GOOD)),
        ("pets.tar.bz2", lambda p: make_tar(p, "w:bz2", GOOD)),
    ],
)
def test_extracts_nested_files(tmp_path, target, name, build):
    archive = build(tmp_path / name)

    report = extract(archive, target)

    assert report == ExtractionReport(extracted_files=2, rejected=())
    assert files_under(target) == GOOD
    assert is_archive(archive)


def test_progress_bar_goes_to_stderr(tmp_path, target, capsys):
    safe_extract(make_zip(tmp_path / "pets.zip", GOOD), target, max_total_bytes=10**6)
    assert "Extracting pets.zip" in capsys.readouterr().err


def test_hostile_zip(tmp_path, target):
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok/cat.jpg", b"cat")
        zf.writestr(f"{tmp_path}/abs/path", b"absolute")
        zf.writestr("../evil", b"up one")
        zf.writestr("a/../../evil", b"up two")
        zf.writestr("C:/windows/evil", b"drive letter")
        zip_entry(zf, "out", b"../../outside", stat.S_IFLNK | 0o777)
        zip_entry(zf, "passwd", b"/etc/passwd", stat.S_IFLNK | 0o777)
        zip_entry(zf, "ok/alias.jpg", b"cat.jpg", stat.S_IFLNK | 0o777)  # stays inside
        zip_entry(zf, "fifo", b"", stat.S_IFIFO | 0o644)

    report = extract(archive, target)

    assert len(report.rejected) == 7
    assert set(report.rejected) == {
        RejectedEntry(f"{tmp_path}/abs/path", "absolute_path"),
        RejectedEntry("../evil", "parent_traversal"),
        RejectedEntry("a/../../evil", "parent_traversal"),
        RejectedEntry("C:/windows/evil", "absolute_path"),
        RejectedEntry("out", "link_outside_target"),
        RejectedEntry("passwd", "link_outside_target"),
        RejectedEntry("fifo", "special_file"),
    }
    assert report.extracted_files == 2
    assert files_under(target) == {"ok/cat.jpg": b"cat", "ok/alias.jpg": b"cat"}
    assert files_under(tmp_path) == {"hostile.zip": archive.read_bytes()} | {
        f"staging/target/{name}": data for name, data in files_under(target).items()
    }


def test_hostile_tar(tmp_path, target):
    archive = tmp_path / "hostile.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tar_entry(tf, "ok/cat.jpg", b"cat")
        tar_entry(tf, f"{tmp_path}/abs/path", b"absolute")
        tar_entry(tf, "../evil", b"up one")
        tar_entry(tf, "a/../../evil", b"up two")
        tar_entry(tf, "passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        tar_entry(tf, "ok/up", type=tarfile.SYMTYPE, linkname="../../x")
        tar_entry(tf, "hard", type=tarfile.LNKTYPE, linkname="../x")
        tar_entry(tf, "ok/sym.jpg", type=tarfile.SYMTYPE, linkname="cat.jpg")  # inside: copied
        tar_entry(tf, "ok/hard.jpg", type=tarfile.LNKTYPE, linkname="ok/cat.jpg")  # inside: copied
        tar_entry(tf, "ok/dirlink", type=tarfile.SYMTYPE, linkname=".")  # inside, not a file
        tar_entry(tf, "fifo", type=tarfile.FIFOTYPE)
        tar_entry(tf, "null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
        tar_entry(tf, "sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0)

    report = extract(archive, target)

    assert len(report.rejected) == 9
    assert set(report.rejected) == {
        RejectedEntry(f"{tmp_path}/abs/path", "absolute_path"),
        RejectedEntry("../evil", "parent_traversal"),
        RejectedEntry("a/../../evil", "parent_traversal"),
        RejectedEntry("passwd", "link_outside_target"),
        RejectedEntry("ok/up", "link_outside_target"),
        RejectedEntry("hard", "link_outside_target"),
        RejectedEntry("fifo", "special_file"),
        RejectedEntry("null", "special_file"),
        RejectedEntry("sda", "special_file"),
    }
    assert report.extracted_files == 3
    assert files_under(target) == {
        "ok/cat.jpg": b"cat",
        "ok/sym.jpg": b"cat",
        "ok/hard.jpg": b"cat",
    }
    assert not any(p.is_symlink() for p in tmp_path.rglob("*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.tar.gz", "staging"]
    assert [p.name for p in target.parent.iterdir()] == ["target"]


def test_declared_size_over_cap_writes_nothing(tmp_path, target):
    archive = make_zip(tmp_path / "big.zip", {f"f{i}": b"x" * 1000 for i in range(3)})

    with pytest.raises(SourceError) as error:
        extract(archive, target, cap=2500)

    message = str(error.value)
    assert str(archive) in message and "2500" in message
    assert "ingest.max_uncompressed_bytes" in message
    assert files_under(target) == {}


def test_inside_links_count_towards_cap(tmp_path, target):
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as tf:
        tar_entry(tf, "big", b"x" * 1000)
        for i in range(3):
            tar_entry(tf, f"copy{i}", type=tarfile.LNKTYPE, linkname="big")

    with pytest.raises(SourceError, match="declares 4000 bytes"):
        extract(archive, target, cap=3000)


def _lying_zip(path: Path, data: bytes, declared: int, method: int) -> Path:
    """A zip whose headers declare `declared` bytes for a member of len(data) bytes."""
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr("bomb.bin", data)
    raw = bytearray(path.read_bytes())
    local, central = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")
    struct.pack_into("<I", raw, local + 22, declared)
    struct.pack_into("<I", raw, central + 24, declared)
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_lying_zip_never_writes_past_cap(tmp_path, target, method):
    archive = _lying_zip(tmp_path / "lying.zip", b"\0" * 200_000, declared=10, method=method)

    with pytest.raises(SourceError, match=str(archive)):
        extract(archive, target, cap=1000)

    assert sum(len(data) for data in files_under(target).values()) <= 1000


def test_streamed_bytes_are_capped_even_if_declared_sizes_pass(tmp_path, target, monkeypatch):
    monkeypatch.setattr(archives, "declared_bytes", lambda members: 0)
    archive = make_tar(tmp_path / "big.tgz", "w:gz", {f"f{i}": b"x" * 1000 for i in range(3)})

    with pytest.raises(SourceError, match="more than 2500 bytes"):
        extract(archive, target, cap=2500)

    assert sum(len(data) for data in files_under(target).values()) <= 2500


def test_detects_archives_by_content(tmp_path, target):
    zipped = make_zip(tmp_path / "data.bin", GOOD)
    tarred = make_tar(tmp_path / "pets.zip", "w:gz", GOOD)  # a .tgz named .zip
    text = tmp_path / "notes.zip"
    text.write_text("just text\n" * 100)

    assert is_archive(zipped) and is_archive(tarred)
    assert not is_archive(text) and not is_archive(tmp_path) and not is_archive(tmp_path / "no")
    assert extract(zipped, target / "a").extracted_files == 2
    assert extract(tarred, target / "b").extracted_files == 2


@pytest.mark.parametrize("content", [b"", b"hello world\n" * 50])
def test_not_an_archive(tmp_path, target, content):
    path = tmp_path / "pets.zip"
    path.write_bytes(content)

    with pytest.raises(SourceError, match="not a zip or tar archive"):
        extract(path, target)


def test_missing_archive(tmp_path, target):
    with pytest.raises(SourceError, match="not a zip or tar archive"):
        extract(tmp_path / "missing.zip", target)


def test_truncated_tgz(tmp_path, target):
    archive = make_tar(tmp_path / "pets.tgz", "w:gz", {"a.bin": bytes(range(256)) * 400})
    archive.write_bytes(archive.read_bytes()[:600])

    with pytest.raises(DamagedFileError, match="truncated at byte 600"):
        extract(archive, target)


def test_corrupt_zip_member(tmp_path, target):
    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a.bin", b"A" * 1000)
    archive.write_bytes(archive.read_bytes().replace(b"A" * 10, b"B" * 10, 1))

    with pytest.raises(SourceError, match="corrupt"):
        extract(archive, target)


def test_encrypted_zip(tmp_path, target):
    archive = make_zip(tmp_path / "secret.zip", {"a.txt": b"secret"})
    raw = bytearray(archive.read_bytes())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (start := raw.find(signature, start)) != -1:
            raw[start + flag_offset] |= 0x1
            start += 4
    archive.write_bytes(raw)

    with pytest.raises(SourceError, match="password-protected"):
        extract(archive, target)
