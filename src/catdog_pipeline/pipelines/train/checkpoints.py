"""Training checkpoints: a crashed `train` resumes where it stopped when rerun on the same inputs.

A checkpoint folder, `data/.checkpoints/train-<key>/` (CATDOG_CHECKPOINT_DIR moves the root),
belongs to one split manifest and one set of parameters: `key` hashes both, so a rerun with
anything changed starts afresh. It holds the frozen features of a transfer model (the costly
part of its training) and, for the networks trained on images, Keras' BackupAndRestore state
plus the finished epochs' history. Every file is written to a temporary name and renamed, so a
kill leaves either the old file or the new one. The folder is removed when training succeeds.
Each worker of a distributed training has a folder of its own (`train-<key>-<part>`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

CHECKPOINT_ENV = "CATDOG_CHECKPOINT_DIR"
DEFAULT_ROOT = Path("data") / ".checkpoints"
HISTORY_FILE = "history.json"


def checkpoint_folder(
    split_manifest: pd.DataFrame, params: Mapping[str, Any], part: str = ""
) -> Path:
    """The folder of this split manifest and these params (created if missing).

    `part` tells apart the workers of a distributed training (`Distribution.checkpoint_part`).
    """
    digest = hashlib.sha256(pd.util.hash_pandas_object(split_manifest, index=False).to_numpy())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    root = Path(os.environ.get(CHECKPOINT_ENV) or DEFAULT_ROOT)
    folder = root / f"train-{digest.hexdigest()[:16]}{part}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cached_array(folder: Path, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """`folder/name.npy` if an earlier attempt saved it, else `compute()`, saved atomically."""
    path = folder / f"{name}.npy"
    if path.is_file():
        return np.load(path)
    array = compute()
    temporary = folder / f".{name}.{os.getpid()}.npy"
    np.save(temporary, array)
    temporary.replace(path)
    return array


def resumable(folder: Path) -> list[keras.callbacks.Callback]:
    """Keras callbacks that save the model's state and history after every epoch.

    Put them after the callbacks that add to an epoch's logs (the learning rate). On resume,
    early stopping starts counting afresh from the restored epoch.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return [
        keras.callbacks.BackupAndRestore(str(folder / "backup"), delete_checkpoint=False),
        _EpochHistory(folder / HISTORY_FILE),
    ]


def recorded_history(folder: Path) -> dict[str, list[float]]:
    """Every finished epoch's logs, those of interrupted attempts included (empty if none)."""
    path = folder / HISTORY_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def finish(folder: Path) -> None:
    """Training succeeded: its checkpoints are no longer needed."""
    shutil.rmtree(folder, ignore_errors=True)


class _EpochHistory(keras.callbacks.Callback):
    """Append each finished epoch's logs to a JSON file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        history = recorded_history(self._path.parent)
        for name, value in (logs or {}).items():
            history.setdefault(name, []).append(float(value))
        temporary = self._path.with_name(f".{self._path.name}.{os.getpid()}")
        temporary.write_text(json.dumps(history))
        temporary.replace(self._path)
