"""A folder of images packed into tar shards, so DVC moves a few large files, not millions.

DVC pays per file: on the 12k archive `dvc push` / `dvc pull` moved 1,319 / 670 files/s as
files and ~6,000 images/s as tar shards (benchmarks/bench_dvc_transfer.py, README "Growth").
`pack` writes a folder's files into uncompressed tar files of about `shard_bytes` each plus
`index.json` (each shard's name, sha256, image count and size). Packing is deterministic
(owners, times and modes zeroed), so the same images give the same bytes and DVC has nothing
new to push; images already in a previous shard stay in it, new images go to the last shard
and new ones after it, so adding photos rewrites a shard or two, not every shard.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from catdog_pipeline.core.errors import InputError

logger = logging.getLogger(__name__)

INDEX = "index.json"
FORMAT = 1


class ShardError(InputError):
    """A shard folder that is missing, incomplete or altered."""


def shard_layout(
    names: Sequence[str],
    previous: Sequence[Sequence[str]],
    size_of: Mapping[str, int],
    shard_bytes: int,
) -> list[list[str]]:
    """Which file goes into which shard: the `previous` shards' files that are still among
    `names`, in their shards and order; then the new names, sorted, filling the last shard up
    to `shard_bytes` and new shards after it (a file larger than that gets a shard alone)."""
    present = set(names)
    layout = [[name for name in members if name in present] for members in previous]
    layout = [members for members in layout if members]
    placed = {name for members in layout for name in members}
    current = layout.pop() if layout else []
    filled = sum(size_of[name] for name in current)
    for name in sorted(present - placed):
        if current and filled + size_of[name] > shard_bytes:
            layout.append(current)
            current, filled = [], 0
        current.append(name)
        filled += size_of[name]
    return layout + [current] if current else layout


def pack(folder: Path, shards: Path, shard_bytes: int, previous: Path | None = None) -> dict:
    """Write every file under `folder` into tar shards in the empty folder `shards`, keeping
    the layout of the shard folder `previous` where it has one; returns the index written."""
    sizes = {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in folder.rglob("*")
        if path.is_file()
    }
    layout = shard_layout(sorted(sizes), previous_members(previous), sizes, shard_bytes)
    entries = []
    with tqdm(total=len(sizes), desc="pack shards", unit="img", mininterval=1.0) as progress:
        for number, members in enumerate(layout):
            shard = shards / f"shard-{number:06d}.tar"
            entries.append(write_shard(folder, shard, {name: sizes[name] for name in members}))
            progress.update(len(members))
    index = {"format": FORMAT, "images": len(sizes), "shards": entries}
    write_index(shards, index)
    return index


def write_shard(folder: Path, path: Path, members: Mapping[str, int]) -> dict[str, Any]:
    """One uncompressed tar of `members` (path under `folder` -> size), in their order, the
    same bytes every time."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, size in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = size, 0o644
            with open(folder / name, "rb") as source:
                tar.addfile(info, source)
    return {
        "name": path.name,
        "sha256": file_sha256(path),
        "images": len(members),
        "bytes": path.stat().st_size,
    }


def write_index(shards: Path, index: Mapping[str, Any]) -> None:
    """`index.json`, written last (through a temporary name): a shard folder without one is
    incomplete."""
    temporary = shards / f".{INDEX}.{os.getpid()}"
    temporary.write_text(json.dumps(index, indent=1) + "\n")
    os.replace(temporary, shards / INDEX)


def read_index(shards: Path) -> dict[str, Any]:
    """The index of the shard folder `shards`; ShardError when it has none or a broken one."""
    path = shards / INDEX
    if not path.is_file():
        raise ShardError(
            f"No image shards in '{shards}' (no {INDEX}): run the stage that writes them "
            "(`dvc repro` or `kedro run`), or `dvc pull` them from the remote."
        )
    try:
        index = json.loads(path.read_text())
        if index.get("format") != FORMAT or not isinstance(index.get("shards"), list):
            raise ValueError(f"format {index.get('format')!r}, expected {FORMAT}")
    except (ValueError, AttributeError) as error:
        raise ShardError(
            f"'{path}' is not a shard index this version reads ({error}): "
            "`dvc checkout` it, or re-run the stage that writes it."
        ) from error
    return index


def index_digest(shards: Path) -> str:
    """The sha256 of the index, which names every shard's sha256: the folder's identity."""
    read_index(shards)
    return file_sha256(shards / INDEX)


def previous_members(shards: Path | None) -> list[list[str]]:
    """Each shard's member names in an earlier shard folder; [] if there is none to reuse."""
    if shards is None or not (shards / INDEX).is_file():
        return []
    try:
        index = read_index(shards)
        members = []
        for entry in index["shards"]:
            with tarfile.open(shards / entry["name"], "r:") as tar:
                members.append(tar.getnames())
        return members
    except (ShardError, OSError, KeyError, tarfile.TarError) as error:
        logger.warning("Packing %s afresh: its previous layout is unreadable (%s)", shards, error)
        return []


def unpack(shards: Path, destination: Path) -> dict[str, Any]:
    """Extract every shard into `destination`, each checked against the index's sha256
    first; ShardError names the first shard that is missing or altered."""
    index = read_index(shards)
    with tqdm(total=index.get("images"), desc="unpack shards", unit="img", mininterval=1.0) as bar:
        for entry in index["shards"]:
            path = shards / entry["name"]
            if not path.is_file() or file_sha256(path) != entry["sha256"]:
                state = "missing" if not path.is_file() else "altered (sha256 differs)"
                raise ShardError(
                    f"Shard '{path}' is {state}: `dvc pull` or `dvc checkout` '{shards}', or "
                    "re-run the stage that writes it."
                )
            with tarfile.open(path, "r:") as tar:
                tar.extractall(destination, filter="data")
            bar.update(entry["images"])
    return index


def file_sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
