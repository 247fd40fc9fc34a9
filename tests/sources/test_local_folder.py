"""copy_folder: a local source folder is copied without reading anything outside it."""

import os
import socket
import threading
from pathlib import Path

import pytest

from catdog_pipeline.sources import RejectedEntry, SourceError
from catdog_pipeline.sources.local import copy_folder


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "dump"
    (folder / "cats").mkdir(parents=True)
    (folder / "cats" / "1.jpg").write_bytes(b"cat")
    return folder


def test_links_leading_outside_are_rejected(source, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    (source / "cats" / "2.jpg").symlink_to(secret)
    (source / "cats" / "3.jpg").symlink_to("../../secret.txt")
    (source / "elsewhere").symlink_to(tmp_path, target_is_directory=True)

    rejected = copy_folder(source, tmp_path / "out")

    assert files_under(tmp_path / "out") == {"cats/1.jpg": b"cat"}
    assert set(rejected) == {
        RejectedEntry("cats/2.jpg", "link_outside_target"),
        RejectedEntry("cats/3.jpg", "link_outside_target"),
        RejectedEntry("elsewhere", "link_outside_target"),
    }


def test_links_inside_are_copied_as_files(source, tmp_path):
    (source / "cats" / "alias.jpg").symlink_to("1.jpg")
    (source / "again").symlink_to("cats", target_is_directory=True)

    rejected = copy_folder(source, tmp_path / "out")

    assert files_under(tmp_path / "out") == {"cats/1.jpg": b"cat", "cats/alias.jpg": b"cat"}
    assert not any(p.is_symlink() for p in (tmp_path / "out").rglob("*"))
    assert rejected == (RejectedEntry("again", "link_to_folder"),)


def test_link_loops_dangling_links_and_special_files_never_block(source, tmp_path):
    (source / "loop.jpg").symlink_to("loop.jpg")
    (source / "ping.jpg").symlink_to("pong.jpg")
    (source / "pong.jpg").symlink_to("ping.jpg")
    (source / "gone.jpg").symlink_to("nothing-here.jpg")
    os.mkfifo(source / "cats" / "fifo.jpg")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(source / "cats" / "socket.jpg"))
    result: list = []
    worker = threading.Thread(target=lambda: result.append(copy_folder(source, tmp_path / "o")))

    worker.start()
    worker.join(timeout=10)
    server.close()

    assert not worker.is_alive(), "copy_folder blocked"
    assert files_under(tmp_path / "o") == {"cats/1.jpg": b"cat"}
    assert set(result[0]) == {
        RejectedEntry("loop.jpg", "link_loop"),
        RejectedEntry("ping.jpg", "link_loop"),
        RejectedEntry("pong.jpg", "link_loop"),
        RejectedEntry("gone.jpg", "broken_link"),
        RejectedEntry("cats/fifo.jpg", "special_file"),
        RejectedEntry("cats/socket.jpg", "special_file"),
    }


def test_source_folder_reached_through_a_link_is_copied(source, tmp_path):
    (tmp_path / "via").symlink_to(source, target_is_directory=True)
    (source / "cats" / "alias.jpg").symlink_to(source / "cats" / "1.jpg")  # absolute, inside

    assert copy_folder(tmp_path / "via", tmp_path / "out") == ()
    assert files_under(tmp_path / "out") == {"cats/1.jpg": b"cat", "cats/alias.jpg": b"cat"}


def test_non_utf8_and_too_deep_names_are_rejected(source, tmp_path):
    (source / os.fsdecode(b"cats/caf\xe9.jpg")).write_bytes(b"cat")
    deep = source.joinpath(*["d"] * 120)
    deep.mkdir(parents=True)
    (deep / "cat.jpg").write_bytes(b"cat")

    rejected = copy_folder(source, tmp_path / "out")

    assert files_under(tmp_path / "out") == {"cats/1.jpg": b"cat"}
    assert {r.reason for r in rejected} == {"bad_name", "too_deep"}
    assert RejectedEntry("cats/caf\\xe9.jpg", "bad_name") in rejected


def test_unreadable_file_is_a_message(source, tmp_path, monkeypatch):
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith("1.jpg"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(SourceError, match=r"Cannot read .*1\.jpg in the source folder"):
        copy_folder(source, tmp_path / "out")
