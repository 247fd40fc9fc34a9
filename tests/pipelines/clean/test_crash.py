"""Clean killed mid-run: its pool workers die with it, and its staging folder does not linger."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

# Runs normalize_images with two pool workers on every file of `raw`, staging in `staging`.
CLEAN_RUN = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import pandas as pd
    from catdog_pipeline.pipelines.clean.nodes import normalize_images

    raw = Path(sys.argv[1])
    os.environ["CATDOG_STAGING_DIR"] = sys.argv[2]
    names = sorted(p.name for p in raw.iterdir())
    inventory = pd.DataFrame(
        {"original_path": names, "raw_path": names, "label": "cat", "status": "candidate",
         "reason": None, "bytes": 1, "file_sha256": None}
    )
    image = {"size": [64, 64], "resize_mode": "pad", "max_pixels": 10**8}
    clean = {"min_side": 8, "near_duplicate_distance": 4, "jpeg_quality": 95, "workers": 2,
             "executor": "processes", "dask_scheduler": None}
    normalize_images(raw, inventory, image, clean)
    """
)


def large_photo_dump(folder: Path, copies: int) -> Path:
    """`copies` copies of one 1600x1600 noisy JPEG: slow enough to decode to be caught mid-run."""
    folder.mkdir(parents=True)
    pixels = np.random.default_rng(0).integers(0, 256, (1600, 1600, 3), dtype=np.uint8)
    first = folder / "0000.jpg"
    Image.fromarray(pixels).save(first, quality=90)
    for index in range(1, copies):
        shutil.copyfile(first, folder / f"{index:04d}.jpg")
    return folder


def still_running(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those of `processes` that are alive (a zombie waiting for its reaper counts as gone)."""
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_killing_clean_mid_run_takes_its_pool_workers_with_it(tmp_path: Path) -> None:
    raw = large_photo_dump(tmp_path / "raw", copies=400)
    staging = tmp_path / "staging"
    run = subprocess.Popen(
        [sys.executable, "-c", CLEAN_RUN, str(raw), str(staging)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    parent = psutil.Process(run.pid)
    descendants: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120
        # Mid-run: the pool's workers exist and have written some clean images.
        while not (len(descendants) >= 3 and any(staging.rglob("*.jpg"))):
            assert run.poll() is None, "the clean run ended before it could be killed"
            assert time.monotonic() < deadline, "the clean run never got going"
            time.sleep(0.1)
            descendants = parent.children(recursive=True)
        descendants = parent.children(recursive=True)
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=10)
        deadline = time.monotonic() + 5
        while still_running(descendants) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = still_running(descendants)
        assert not left, f"still running after the clean run was killed: {left}"
    finally:  # whatever happened, leave no process of this test behind
        for process in still_running([parent, *descendants]):
            process.kill()
        run.wait(timeout=10)
