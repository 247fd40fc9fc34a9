"""safe_extract names what is wrong with an archive or an entry, and uses the rest."""

import io
import os
import re
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from catdog_pipeline.sources import DamagedFileError, RejectedEntry, SourceError, safe_extract


def extract(archive: Path, target: Path):
    return safe_extract(archive, target, max_total_bytes=10**7, progress=False, name="pets")


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_second_zip_entry_of_one_name_is_rejected_not_written(tmp_path):
    archive = tmp_path / "dup.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cats/1.jpg", b"first")
        zf.writestr("cats/1.jpg", b"second")
        zf.writestr("dogs", b"a file where a folder must be")
        zf.writestr("dogs/2.jpg", b"dog")

    report = extract(archive, tmp_path / "out")

    assert files_under(tmp_path / "out") == {"cats/1.jpg": b"first", "dogs/2.jpg": b"dog"}
    assert sorted(report.rejected, key=lambda r: r.name) == [
        RejectedEntry("cats/1.jpg", "duplicate_entry"),
        RejectedEntry("dogs", "duplicate_entry"),
    ]


def test_second_tar_entry_of_one_name_is_rejected(tmp_path):
    archive = tmp_path / "dup.tar"
    with tarfile.open(archive, "w") as tf:
        for data in (b"first", b"second"):
            info = tarfile.TarInfo("cats/1.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

    report = extract(archive, tmp_path / "out")

    assert files_under(tmp_path / "out") == {"cats/1.jpg": b"first"}
    assert report.rejected == (RejectedEntry("cats/1.jpg", "duplicate_entry"),)


def test_tar_entry_with_a_non_utf8_name_is_rejected_by_name(tmp_path, caplog):
    archive = tmp_path / "latin1.tar"
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT, errors="surrogateescape") as tf:
        for name in ("cats/caf\udce9.jpg", "cats/ok.jpg"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tf.addfile(info, io.BytesIO(b"cat"))

    report = extract(archive, tmp_path / "out")

    assert files_under(tmp_path / "out") == {"cats/ok.jpg": b"cat"}
    assert report.rejected == (RejectedEntry("cats/caf\\xe9.jpg", "bad_name"),)
    assert "cats/caf\\\\xe9.jpg" in caplog.text and "not UTF-8" in caplog.text
    # What goes on to the inventory can be stored: the traceback was pyarrow's.
    pd.DataFrame({"name": [r.name for r in report.rejected]}).to_parquet(tmp_path / "t.parquet")


def test_zip_flagging_a_non_utf8_name_as_utf8_names_the_entry(tmp_path):
    archive = tmp_path / "flagged.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cats/cafX.jpg", b"cat")
    raw = archive.read_bytes().replace(b"cafX", b"caf\xe9")
    for signature, flag_offset in ((b"PK\x03\x04", 7), (b"PK\x01\x02", 9)):
        at = raw.find(signature) + flag_offset
        raw = raw[:at] + bytes([raw[at] | 0x08]) + raw[at + 1 :]  # bit 11: names are UTF-8
    archive.write_bytes(raw)

    with pytest.raises(SourceError, match=r"caf\\xe9") as error:
        extract(archive, tmp_path / "out")
    assert "not UTF-8" in str(error.value) and "ingest.source" in str(error.value)


@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_entry_nested_1500_folders_deep_is_rejected_and_the_rest_used(tmp_path, kind):
    deep = "d/" * 1500 + "cat.jpg"
    long = "cats/" + "x" * 300 + ".jpg"
    archive = tmp_path / f"deep.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for name in (deep, long, "cats/1.jpg"):
                zf.writestr(name, b"cat")
    else:
        with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tf:
            for name in (deep, long, "cats/1.jpg"):
                info = tarfile.TarInfo(name)
                info.size = 3
                tf.addfile(info, io.BytesIO(b"cat"))

    report = extract(archive, tmp_path / "out")

    assert files_under(tmp_path / "out") == {"cats/1.jpg": b"cat"}
    assert sorted(r.reason for r in report.rejected) == ["name_too_long", "too_deep"]
    assert not (tmp_path / "out" / "d").exists()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"<!DOCTYPE html><html><body>Error 500</body></html>", "is an HTML page, not an archive"),
        (b"\n  <html><head><title>Sign in</title>", "is an HTML page, not an archive"),
        (
            zip_bytes({"cats/1.jpg": os.urandom(5000)})[:3000],
            "is a zip that is truncated at byte 3000",
        ),
        (os.urandom(5000), "is not a zip or tar archive"),
        (b"OK", "is only 2 bytes long and not a zip or tar archive"),
        (b"", "is empty (0 bytes)"),
    ],
)
def test_a_file_that_is_no_archive_gets_its_real_cause(tmp_path, content, expected):
    archive = tmp_path / "pets.zip"
    archive.write_bytes(content)

    with pytest.raises(DamagedFileError, match=re.escape(expected)) as error:
        extract(archive, tmp_path / "out")
    assert str(error.value).startswith(f"pets ({archive}) ")
    assert "ingest.source" in str(error.value)
