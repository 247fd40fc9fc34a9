"""`train.distribution`: two worker processes on 127.0.0.1 train one model; mirrored on a CPU.

The workers call the train node directly, as `kedro run --pipeline train` does, with TF_CONFIG
naming each its task; the Kedro side of a non-chief worker (no file, no MLflow run) is
tests/test_workers.py's. Starting two `kedro run` processes instead would add half a minute.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
from tests.pipelines.train.test_train_nodes import PRETRAINED

from catdog_pipeline.pipelines.train.nodes import HISTORY_COLUMNS, train_model

WORKER = """
import json, logging, sys
from pathlib import Path

import pandas as pd

from catdog_pipeline.core import cluster
from catdog_pipeline.datasets import KerasModelDataset
from catdog_pipeline.pipelines.train.nodes import train_model

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
logging.getLogger("catdog_pipeline.pipelines.train.distribution").setLevel(logging.DEBUG)
folder, inputs = Path(sys.argv[1]), json.loads(sys.argv[2])
model, history = train_model(
    pd.read_parquet(inputs["manifest"]), Path(inputs["images"]), inputs["classes"],
    inputs["image"], inputs["train"],
)
if cluster.worker_role().is_chief:  # as the Kedro hook and settings decide
    KerasModelDataset(filepath=str(folder / "model.keras")).save(model)
    history.to_csv(folder / "training_history.csv", index=False)
print("steps", int(model.optimizer.iterations.numpy()))
"""
SHARD_LINE = re.compile(r"Shard (\d) of 2, (\w+) images: (\[.*\])")
STEPS_LINE = re.compile(r"^steps (\d+)$", re.MULTILINE)
DEADLINE = 240  # seconds; a hung collective operation must not hang the suite


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("127.0.0.1", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ports


def run_workers(tmp_path: Path, inputs: dict) -> list[tuple[Path, str, str]]:
    """Start one process per worker, wait for all; (folder, stdout, stderr) of each."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    started = []
    try:
        for index in range(2):
            folder = tmp_path / f"worker{index}"
            folder.mkdir()
            tf_config = {
                "cluster": {"worker": addresses},
                "task": {"type": "worker", "index": index},
            }
            env = {
                **os.environ,
                "TF_CONFIG": json.dumps(tf_config),
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "CATDOG_CHECKPOINT_DIR": str(folder / "checkpoints"),
            }
            command = [sys.executable, "-c", WORKER, str(folder), json.dumps(inputs)]
            started.append((folder, subprocess.Popen(command, env=env, text=True, **PIPES)))
        deadline = time.monotonic() + DEADLINE
        finished = [
            (folder, *process.communicate(timeout=max(deadline - time.monotonic(), 1)))
            for folder, process in started
        ]
    finally:
        for _, process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
    for (_, process), (_, _, stderr) in zip(started, finished, strict=True):
        assert process.returncode == 0, stderr[-3000:]
    return finished


PIPES = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}


@pytest.mark.slow
@pytest.mark.timeout(DEADLINE + 60)
def test_two_workers_train_one_model_on_disjoint_shards(
    tmp_path, split_factory, classes, image, train_params
) -> None:
    manifest, clean_images = split_factory({"train": 9, "val": 3})
    manifest = manifest.drop(index=0)  # 17 train images: one worker has one image more
    manifest.to_parquet(tmp_path / "split.parquet")
    inputs = {
        "manifest": str(tmp_path / "split.parquet"),
        "images": str(clean_images),
        "classes": classes,
        "image": image,
        "train": train_params(epochs=1, batch_size=8, distribution="multi_worker"),
    }

    (chief, chief_out, chief_log), (other, other_out, other_log) = run_workers(tmp_path, inputs)

    model = keras.saving.load_model(chief / "model.keras", safe_mode=True)
    assert model.predict(np.zeros((2, 32, 32, 3), np.uint8), verbose=0).shape == (2, 1)
    history = pd.read_csv(chief / "training_history.csv")
    assert list(history.columns) == HISTORY_COLUMNS and len(history) == 1
    assert sorted(path.name for path in other.iterdir()) == ["checkpoints"]
    assert not any((other / "checkpoints").iterdir())  # removed when training succeeded
    shards = {
        (int(worker), split): json.loads(files)
        for log in (chief_log, other_log)
        for worker, split, files in SHARD_LINE.findall(log)
    }
    for split in ("train", "val"):
        expected = {
            str(clean_images / path) for path in manifest.query("split == @split").image_path
        }
        first, second = set(shards[0, split]), set(shards[1, split])
        assert not first & second
        assert first | second == expected
        # The worker with one image fewer reads one of its own twice: both take the same steps.
        assert len(shards[0, split]) == len(shards[1, split])
    # Each step takes 8 images, 4 on each worker: 9 train images each, 3 steps.
    assert STEPS_LINE.findall(chief_out) == STEPS_LINE.findall(other_out) == ["3"]


def test_mirrored_on_a_cpu_only_host_trains_the_pretrained_default_on_its_cpu(
    tiny_split, classes, image, train_params
) -> None:
    # The frozen-feature head under a strategy; the 2-worker test covers training on images.
    manifest, clean_images = tiny_split
    params = train_params(
        epochs=2,
        learning_rate=0.01,
        distribution="mirrored",
        architecture="transfer",
        transfer=PRETRAINED,
    )

    model, history = train_model(manifest, clean_images, classes, image, params)

    assert history["epoch"].tolist() == [1, 2]
    assert np.isfinite(history[HISTORY_COLUMNS[1:]].to_numpy()).all()
    assert history["loss"].is_monotonic_decreasing
    assert history["val_loss"].is_monotonic_decreasing
    assert model.predict(np.zeros((2, 32, 32, 3), np.uint8), verbose=0).shape == (2, 1)
