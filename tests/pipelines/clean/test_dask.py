"""Clean in a process pool and on a dask.distributed cluster: the serial manifest and images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dask.distributed import LocalCluster

from catdog_pipeline.core.errors import InputError

from .conftest import clean, folder_bytes


@pytest.fixture
def dump(tmp_path: Path, make_image) -> Path:
    """70 tiny photos (enough for clean to start its process pool), a broken file, a copy."""
    folder = tmp_path / "dump"
    for seed in range(70):
        make_image(
            folder / f"{'cats' if seed % 2 else 'dogs'}/{seed}.png", (32, 24), fmt="PNG", seed=seed
        )
    make_image(folder / "cats/copy-of-1.bmp", (32, 24), fmt="BMP", seed=1)
    (folder / "dogs/broken.jpg").write_bytes(b"not a photo")
    return folder


@pytest.fixture(scope="module")
def two_worker_cluster() -> Iterator[str]:
    """A scheduler and two single-threaded worker processes on 127.0.0.1; its address."""
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0"
    ) as cluster:
        yield cluster.scheduler_address


def test_process_pool_and_dask_cluster_give_the_serial_output(
    dump, ingested, two_worker_cluster, monkeypatch, tmp_path
) -> None:
    raw, inventory = ingested(dump)
    executors = {
        "serial": {"workers": 1},
        "pool": {"workers": 2},
        "dask": {"workers": 2, "executor": "dask", "dask_scheduler": two_worker_cluster},
    }
    outputs = {}
    for name, params in executors.items():  # each from an empty cache: every file decoded
        monkeypatch.setenv("CATDOG_CLEAN_CACHE_DIR", str(tmp_path / f"cache-{name}"))
        outputs[name] = clean(raw, inventory, **params)

    serial_images, serial = outputs["serial"]
    assert (serial["status"] == "kept").sum() == 70
    assert set(serial["reason"].dropna()) == {"exact_duplicate", "not_an_image"}
    for name in ("pool", "dask"):
        images, manifest = outputs[name]
        pd.testing.assert_frame_equal(serial, manifest)
        assert folder_bytes(images) == folder_bytes(serial_images), name
    entries = [path for path in (tmp_path / "cache-dask").rglob("*") if path.is_file()]
    assert len(entries) == 72, "what the Dask workers cleaned is cached too"


def test_workers_with_several_threads_are_refused(dump, ingested) -> None:
    raw, inventory = ingested(dump)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
        ) as cluster,
        pytest.raises(InputError, match="--nthreads 1"),
    ):
        clean(raw, inventory, executor="dask", dask_scheduler=cluster.scheduler_address)
