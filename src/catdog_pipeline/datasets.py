"""Custom Kedro datasets: a folder of image files (as files or as tar shards) and a Keras
model, each replaced atomically.

Temporary names carry the writing process's id; what a process that no longer runs left
behind (a crash, a kill) is cleaned up by the next save.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from filelock import FileLock
from kedro.io import AbstractDataset, DatasetError

from catdog_pipeline import image_shards
from catdog_pipeline.processes import process_alive

logger = logging.getLogger(__name__)


class ImageFolderDataset(AbstractDataset[Path, Path]):
    """A folder of files, loaded as its path and saved by swapping in a finished folder.

    A node builds its output in a staging folder (see `staging_folder`) and returns that folder's
    path; `save` moves it into place in one rename, so readers see the old folder or the new
    one, never a half-written mix, and a crash mid-run leaves the previous folder intact.
    """

    def __init__(self, path: str, metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> Path:
        if not self._path.is_dir():
            raise DatasetError(
                f"Image folder '{self._path}' does not exist: run the stage that writes it "
                "first (`dvc repro` or `kedro run`), or `dvc pull` it from the remote."
            )
        return self._path

    def save(self, data: Path) -> None:
        staged = Path(data)
        if not staged.is_dir():
            raise DatasetError(f"Cannot save '{self._path}': '{staged}' is not a folder.")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._recover(keep=staged)
        incoming = self._next_to_target(staged)
        retired = self._path.with_name(f".{self._path.name}.old-{os.getpid()}")
        if self._path.exists():
            os.replace(self._path, retired)
        try:
            os.replace(incoming, self._path)
        except BaseException:
            if retired.exists() and not self._path.exists():
                os.replace(retired, self._path)
            raise
        shutil.rmtree(retired, ignore_errors=True)

    def _recover(self, keep: Path) -> None:
        """Undo an interrupted save: put the previous folder back if the target is missing, and
        delete the `.<name>.old-<pid>` / `.<name>.new-<pid>-*` folders dead processes left
        (all but `keep`, the folder being saved)."""
        name = re.escape(self._path.name)
        pattern = re.compile(rf"\.{name}\.(?:old-(?P<old>\d+)|new-(?:(?P<new>\d+)-)?.+)")
        leftovers = [
            path
            for path in self._path.parent.iterdir()
            if (match := pattern.fullmatch(path.name))
            and path.resolve() != keep.resolve()
            and _left_behind(match["old"] or match["new"])
        ]
        previous = [p for p in leftovers if ".old-" in p.name]
        if not self._path.exists() and previous:
            restored = max(previous, key=lambda p: p.stat().st_mtime)
            os.replace(restored, self._path)
            leftovers.remove(restored)
            logger.warning("Restored %s, which an interrupted save had moved away", self._path)
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)

    def _next_to_target(self, staged: Path) -> Path:
        """Return `staged` moved beside the target (same file system), so the swap is a rename."""
        if staged.parent.resolve() == self._path.parent.resolve():
            return staged
        sibling = _sibling_folder(self._path)
        sibling.rmdir()
        shutil.move(staged, sibling)
        return sibling

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


class ShardedImageFolderDataset(AbstractDataset[Path, Path]):
    """A folder of images versioned as tar shards (`image_shards`), read as a plain folder.

    `path` is the shard folder, what DVC tracks and moves; `unpacked` the folder of files that
    nodes read, a local copy that `load` unpacks when it is missing or from other shards (its
    `.unpacked-from` file names the index it came from). `save` takes a finished folder like
    `ImageFolderDataset.save`, packs it into shards of about `shard_mib` MiB, then swaps in the
    shards and the folder, each in one rename. A lock beside the folder serialises processes.
    """

    STAMP = ".unpacked-from"

    def __init__(
        self,
        path: str,
        unpacked: str,
        shard_mib: float = 64,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._shards, self._folder = Path(path), Path(unpacked)
        self._shard_bytes = int(shard_mib * 2**20)
        self._lock = FileLock(self._folder.with_name(f".{self._folder.name}.lock"))
        self.metadata = metadata

    def load(self) -> Path:
        with self._lock:
            digest = _as_dataset_error(image_shards.index_digest, self._shards)
            stamp = self._folder / self.STAMP
            if stamp.is_file() and stamp.read_text() == digest:
                return self._folder
            logger.info("Unpacking %s into %s", self._shards, self._folder)
            staged = _sibling_folder(self._folder)
            try:
                _as_dataset_error(image_shards.unpack, self._shards, staged)
                (staged / self.STAMP).write_text(digest)
                ImageFolderDataset(str(self._folder)).save(staged)
            finally:
                shutil.rmtree(staged, ignore_errors=True)
        return self._folder

    def save(self, data: Path) -> None:
        staged = Path(data)
        if not staged.is_dir():
            raise DatasetError(f"Cannot save '{self._shards}': '{staged}' is not a folder.")
        (staged / self.STAMP).unlink(missing_ok=True)
        with self._lock:
            packed = _sibling_folder(self._shards)
            try:
                image_shards.pack(staged, packed, self._shard_bytes, previous=self._shards)
                (staged / self.STAMP).write_text(image_shards.index_digest(packed))
                ImageFolderDataset(str(self._shards)).save(packed)
            finally:
                shutil.rmtree(packed, ignore_errors=True)
            ImageFolderDataset(str(self._folder)).save(staged)

    def _exists(self) -> bool:
        return (self._shards / image_shards.INDEX).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._shards), "unpacked": str(self._folder)}


def _sibling_folder(target: Path) -> Path:
    """A new folder beside `target`, named so that `ImageFolderDataset` clears it if its
    process dies before using it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{target.name}.new-{os.getpid()}-"
    return Path(tempfile.mkdtemp(prefix=prefix, dir=target.parent))


def _as_dataset_error(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except image_shards.ShardError as error:
        raise DatasetError(str(error)) from error


def staging_folder(name: str) -> Path:
    """A new, empty folder for a node to build an output folder in before it is saved."""
    root = Path(os.environ.get("CATDOG_STAGING_DIR", tempfile.gettempdir()))
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"catdog-{name}-", dir=root))


def _left_behind(pid: str | None) -> bool:
    """Whether a temporary name's writer is gone: a dead process, an earlier (finished) save
    of this one, or no id at all (names from older code)."""
    return pid is None or int(pid) == os.getpid() or not process_alive(int(pid))


class KerasModelDataset(AbstractDataset[Any, Any]):
    """A Keras 3 model as one `.keras` file, replaced atomically; Keras is imported on use only.

    kedro_datasets' TensorFlowModelDataset imports TensorFlow as soon as the catalog is built
    (every `kedro run`, the data stages' too) and copies the file into place, so a crash can
    leave half a model; this one writes a sibling temporary file and renames it over the target.
    `load_args` go to `keras.saving.load_model` (default `safe_mode: true`).
    """

    def __init__(
        self,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._filepath = Path(filepath)
        if self._filepath.suffix != ".keras":
            raise DatasetError(f"KerasModelDataset needs a '.keras' file path, got '{filepath}'.")
        self._load_args = {"safe_mode": True, **(load_args or {})}
        self.metadata = metadata

    def load(self) -> Any:
        import keras

        if not self._filepath.is_file():
            raise DatasetError(
                f"Model file '{self._filepath}' does not exist: run the train stage first "
                "(`dvc repro train` or `kedro run --pipeline train`), or `dvc pull` it."
            )
        return keras.saving.load_model(self._filepath, **self._load_args)

    def save(self, data: Any) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        stem = re.escape(self._filepath.stem)
        for path in self._filepath.parent.glob(f".{self._filepath.stem}.*.keras"):
            match = re.fullmatch(rf"\.{stem}\.(?:(\d+)-)?[0-9a-f]{{32}}\.keras", path.name)
            if match and _left_behind(match[1]):  # left by a killed save
                path.unlink(missing_ok=True)
        # Keras only writes names ending in .keras; letting it create the file (rather than
        # mkstemp) gives the model the usual permissions instead of owner-only ones.
        temporary = self._filepath.with_name(
            f".{self._filepath.stem}.{os.getpid()}-{uuid.uuid4().hex}.keras"
        )
        try:
            data.save(temporary)
            os.replace(temporary, self._filepath)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args}
