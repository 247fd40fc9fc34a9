"""The PyTorch weights reader: right tensors, checksum first, and no code run from a pickle."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from catdog_pipeline.core import backbones, torch_weights

LITE0_SHA256 = backbones.PACKAGED_WEIGHTS["EfficientNetLite0"][2]


def _legacy_header() -> bytes:
    parts = (torch_weights.LEGACY_MAGIC, torch_weights.LEGACY_PROTOCOL, {"little_endian": True})
    return b"".join(pickle.dumps(part, protocol=2) for part in parts)


class _RunsACommand:
    """Unpickling this calls os.system: what a hostile .pth file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_the_packaged_lite0_weights_are_read_whole() -> None:
    state = torch_weights.read_state_dict(
        backbones.packaged_weights_file("EfficientNetLite0"), LITE0_SHA256
    )

    assert len(state) == 296
    parameters = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert parameters == 4_694_024
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_bn0.running_var"].dtype == np.float32
    variances = state["_bn0.running_var"]  # garbage if an offset were wrong
    assert np.all(variances >= 0) and variances.mean() > 0.1


def test_a_checksum_mismatch_is_refused_before_reading(tmp_path) -> None:
    marker = tmp_path / "ran"
    hostile = tmp_path / "weights.pth"
    hostile.write_bytes(pickle.dumps(_RunsACommand(marker), protocol=2))

    with pytest.raises(torch_weights.WeightsFileError, match=f"'{hostile}' has sha256 .*expected"):
        torch_weights.read_state_dict(hostile, LITE0_SHA256)
    assert not marker.exists()


@pytest.mark.parametrize("where", ["header", "tensors"])
def test_a_pickle_that_would_run_a_command_is_refused_without_running_it(tmp_path, where) -> None:
    marker = tmp_path / "ran"
    payload = pickle.dumps(_RunsACommand(marker), protocol=2)
    hostile = tmp_path / "weights.pth"
    hostile.write_bytes(payload if where == "header" else _legacy_header() + payload)

    with pytest.raises(torch_weights.UnsafeWeightsError, match="posix.system|os.system"):
        torch_weights.read_state_dict(hostile, None)
    assert not marker.exists()
    # The same bytes do run the command when unpickled freely: the test payload is real.
    with open(hostile, "rb") as stream:
        for _ in range(3 if where == "tensors" else 0):
            pickle.load(stream)
        pickle.load(stream)
    assert marker.exists()


def test_a_file_that_is_not_a_legacy_dump_gets_a_clear_error(tmp_path) -> None:
    other = tmp_path / "weights.pth"
    other.write_bytes(pickle.dumps("hello", protocol=2) * 3)

    with pytest.raises(torch_weights.WeightsFileError, match="not a legacy"):
        torch_weights.read_state_dict(other, None)


def test_a_truncated_file_gets_a_clear_error(tmp_path) -> None:
    whole = backbones.packaged_weights_file("EfficientNetLite0").read_bytes()
    truncated = tmp_path / "weights.pth"
    truncated.write_bytes(whole[: len(whole) - 1000])

    with pytest.raises(torch_weights.WeightsFileError, match="truncated"):
        torch_weights.read_state_dict(truncated, None)
