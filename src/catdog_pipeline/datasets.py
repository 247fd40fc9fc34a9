"""Custom Kedro datasets: a folder of image files that is replaced atomically."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


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
        incoming = self._next_to_target(staged)
        retired = self._path.with_name(f".{self._path.name}.old-{os.getpid()}")
        if self._path.exists():
            os.replace(self._path, retired)
        os.replace(incoming, self._path)
        shutil.rmtree(retired, ignore_errors=True)

    def _next_to_target(self, staged: Path) -> Path:
        """Return `staged` moved beside the target (same file system), so the swap is a rename."""
        if staged.parent.resolve() == self._path.parent.resolve():
            return staged
        sibling = Path(tempfile.mkdtemp(prefix=f".{self._path.name}.new-", dir=self._path.parent))
        sibling.rmdir()
        shutil.move(staged, sibling)
        return sibling

    def _exists(self) -> bool:
        return self._path.is_dir()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}


def staging_folder(name: str) -> Path:
    """A new, empty folder for a node to build an output folder in before it is saved."""
    root = Path(os.environ.get("CATDOG_STAGING_DIR", tempfile.gettempdir()))
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"catdog-{name}-", dir=root))


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
        # Keras only writes names ending in .keras; letting it create the file (rather than
        # mkstemp) gives the model the usual permissions instead of owner-only ones.
        temporary = self._filepath.with_name(f".{self._filepath.stem}.{uuid.uuid4().hex}.keras")
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
