"""Clean on a dask.distributed cluster gives the process pool's manifest and images bit for bit."""

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


def test_dask_cluster_gives_the_process_pools_output(
    dump, ingested, two_worker_cluster, monkeypatch, tmp_path
) -> None:
    raw, inventory = ingested(dump)
    monkeypatch.setenv("CATDOG_CLEAN_CACHE_DIR", str(tmp_path / "pool-cache"))
    pool_images, pool = clean(raw, inventory, workers=2)
    monkeypatch.setenv("CATDOG_CLEAN_CACHE_DIR", str(tmp_path / "dask-cache"))

    dask_images, on_dask = clean(
        raw, inventory, workers=2, executor="dask", dask_scheduler=two_worker_cluster
    )

    assert (on_dask["status"] == "kept").sum() == 70
    assert set(on_dask["reason"].dropna()) == {"exact_duplicate", "not_an_image"}
    pd.testing.assert_frame_equal(pool, on_dask)
    assert folder_bytes(pool_images) == folder_bytes(dask_images)
    entries = [path for path in (tmp_path / "dask-cache").rglob("*") if path.is_file()]
    assert len(entries) == 72, "what the workers cleaned is cached too"


def test_workers_with_several_threads_are_refused(dump, ingested) -> None:
    raw, inventory = ingested(dump)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0"
        ) as cluster,
        pytest.raises(InputError, match="--nthreads 1"),
    ):
        clean(raw, inventory, executor="dask", dask_scheduler=cluster.scheduler_address)
