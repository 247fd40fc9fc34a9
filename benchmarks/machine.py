"""What a benchmark ran on and when, recorded beside its figures in benchmarks/results/."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Self

import psutil

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def describe_machine() -> dict[str, Any]:
    """Date, CPU model and cores, memory, Python, and the project's git commit."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "commit": commit,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }


class Sampler:
    """Calls `sample()` every `every_s` seconds on a thread while the `with` block runs, and
    once more at its end."""

    def __init__(self, every_s: float) -> None:
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self.sample()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def process_tree(root: psutil.Process) -> list[psutil.Process]:
    """`root` and all its descendants (none if it is gone)."""
    with contextlib.suppress(psutil.Error):
        return [root, *root.children(recursive=True)]
    return []


class PeakMemory(Sampler):
    """Peak summed RSS of a process (this one by default) and all its descendants, sampled."""

    def __init__(self, pid: int | None = None, every_s: float = 0.1) -> None:
        super().__init__(every_s)
        self.peak_mib = 0.0
        self._root = psutil.Process(pid)

    def sample(self) -> None:
        total = 0
        for process in process_tree(self._root):
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        self.peak_mib = max(self.peak_mib, total / 2**20)


class CpuSeconds(Sampler):
    """CPU seconds (user + system) used by this process and all its descendants, sampled: pool
    workers are children of multiprocessing's fork server, so the OS does not count them here."""

    def __init__(self, every_s: float = 0.1) -> None:
        super().__init__(every_s)
        self.seconds = 0.0
        self._root = psutil.Process()
        self._last: dict[int, float] = {}
        self._start = self._snapshot()

    def _snapshot(self) -> dict[int, float]:
        used = {}
        for process in process_tree(self._root):
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                used[process.pid] = times.user + times.system
        return used

    def sample(self) -> None:
        self._last.update(self._snapshot())
        self.seconds = sum(used - self._start.get(pid, 0.0) for pid, used in self._last.items())


class OwnCpuSeconds(Sampler):
    """CPU seconds (user + system) of process `pid` alone, not its children: for clean, the
    driver's share (collecting results, caching them, duplicates), sampled until it ends."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        super().__init__(every_s)
        self.seconds = 0.0
        self._process = psutil.Process(pid)

    def sample(self) -> None:
        with contextlib.suppress(psutil.Error):
            times = self._process.cpu_times()
            self.seconds = times.user + times.system


def save_results(name: str, results: dict[str, Any]) -> None:
    """Print the results and keep them as benchmarks/results/<name>.json (the latest run)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
