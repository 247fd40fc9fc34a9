"""Run clean's per-file function over many files: a process pool here, or a Dask cluster.

Both run the same function on the same paths and give its results in the files' order, so the
outputs are the same bit for bit. Files go in chunks of CHUNK per task, which amortises the
cost of a task (a pickle and a round trip) over many images.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from tqdm.auto import tqdm

from catdog_pipeline.core.errors import InputError

from .normalize import exit_with

CHUNK = 32  # files per task sent to a worker

Work = Callable[[str], dict]


def map_files(work: Work, files: Sequence[str], clean: Mapping) -> Iterator[dict]:
    """`work(file)` for each of `files`, in order, on `clean.executor`, with a progress bar.

    `processes`: a pool of `clean.workers` processes (0: one per core) on this machine.
    `dask`: the dask.distributed scheduler at `clean.dask_scheduler`, or (null) a local cluster
    of `clean.workers` single-threaded worker processes, closed afterwards.
    """
    if not files:  # everything came from the cache: no pool, no cluster to start
        return
    workers = int(clean["workers"]) or os.cpu_count() or 1
    on_dask = clean["executor"] == "dask"
    desc = "clean (dask)" if on_dask else "clean"
    with tqdm(total=len(files), desc=desc, unit="img", mininterval=1.0) as progress:
        if on_dask:
            results = _on_dask(work, files, workers, clean["dask_scheduler"])
        else:
            results = _in_processes(work, files, workers)
        for result in results:
            progress.update()
            yield result


def _in_processes(work: Work, files: Sequence[str], workers: int) -> Iterator[dict]:
    if workers == 1 or len(files) < 2 * CHUNK:
        yield from map(work, files)
        return
    # forkserver: workers never inherit a parent that may already hold TensorFlow's threads.
    # exit_with: a killed run takes its workers with it (they would wait for work forever).
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=exit_with, initargs=(os.getpid(),)
    ) as pool:
        yield from pool.map(work, files, chunksize=CHUNK)


def _on_dask(work: Work, files: Sequence[str], workers: int, scheduler: str | None):
    chunks = [files[start : start + CHUNK] for start in range(0, len(files), CHUNK)]
    with _dask_client(scheduler, workers) as client:
        _check_single_threaded(client, scheduler)
        futures = client.map(partial(_each, work), chunks, pure=False)
        for future in futures:
            yield from future.result()
            future.release()  # the workers drop the result once it is here


@contextlib.contextmanager
def _dask_client(scheduler: str | None, workers: int):
    # Dask's start-up chatter (dozens of INFO lines per run) stays out of the run's log; its
    # warnings do not. Set before Dask is imported, and inherited by local worker processes;
    # a DASK_LOGGING__DISTRIBUTED of the user's own wins.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler, set_as_default=False) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client  # its worker processes exit by themselves when this one is killed


def _check_single_threaded(client, scheduler: str | None) -> None:
    """Refuse workers with several threads: the per-file function records PIL's warnings with
    `warnings.catch_warnings`, which is process-wide, so threads would mix their files' warnings."""
    threads = client.nthreads()
    if not threads:
        raise InputError(
            f"The Dask scheduler at {scheduler} has no workers: start some "
            f"(`dask worker {scheduler} --nworkers $(nproc) --nthreads 1`) and run again."
        )
    if max(threads.values()) > 1:
        raise InputError(
            f"The Dask workers of {scheduler} run {max(threads.values())} threads each; clean "
            "needs one thread per worker process (PIL's warnings are recorded per process). "
            f"Start them with `dask worker {scheduler} --nworkers $(nproc) --nthreads 1`."
        )


def _each(work: Work, chunk: Sequence[str]) -> list[dict]:
    """One Dask task: `work` on each file of a chunk."""
    return [work(path) for path in chunk]
