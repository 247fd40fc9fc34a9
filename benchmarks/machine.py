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
from typing import Any

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


class PeakMemory:
    """Peak summed RSS of a process (this one by default) and all its descendants, sampled."""

    def __init__(self, pid: int | None = None, every_s: float = 0.1) -> None:
        self.peak_mib = 0.0
        self._root = psutil.Process(pid)
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self._every_s):
            total = 0
            with contextlib.suppress(psutil.Error):
                for process in [self._root, *self._root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        total += process.memory_info().rss
            self.peak_mib = max(self.peak_mib, total / 2**20)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def save_results(name: str, results: dict[str, Any]) -> None:
    """Print the results and keep them as benchmarks/results/<name>.json (the latest run)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
