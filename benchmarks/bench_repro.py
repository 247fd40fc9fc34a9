"""The whole `dvc repro` from an empty data/ on real photos: time per stage, peak memory, figures.

    python benchmarks/bench_repro.py [--archive ../shared/datasets/petimages-180-12k.zip]
        [--set train.epochs=10 ...]

In a temporary copy of the project (your data/, reports/ and mlflow.db are left alone), points
`ingest.source` at the archive, runs `dvc repro split`, freezes the gate set of the new test
split (`catdog gate-set --replace`, as a user with new photos does), runs `dvc repro`, and
reports each stage's wall time (from
the moment DVC announces it to the next), the whole run's wall time, the peak memory of all its
processes together (sampled), the test figures and the machine. Writes
benchmarks/results/bench_repro.json (committed: the latest figures, with date and machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_train import DEFAULT_ARCHIVE, prepare_project
from machine import PeakMemory, describe_machine, save_results


def run_repro(project: Path, env: dict[str, str], log_file: Path, *targets: str) -> dict[str, Any]:
    """`dvc repro [targets]` with a log: per-stage seconds, total seconds, peak tree memory."""
    started = time.perf_counter()
    stage_started: dict[str, float] = {}
    with log_file.open("a") as log:
        process = subprocess.Popen(
            ["dvc", "repro", *targets],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        with PeakMemory(process.pid, every_s=0.25) as memory:
            for line in process.stdout:
                log.write(line)
                if line.startswith("Running stage '"):
                    stage_started[line.split("'")[1]] = time.perf_counter()
            status = process.wait()
    ended = time.perf_counter()
    if status != 0:
        raise SystemExit(f"`dvc repro` failed; see {log_file}")
    names = list(stage_started)
    ends = [stage_started[name] for name in names[1:]] + [ended]
    return {
        "seconds": round(ended - started, 1),
        "stage_seconds": {
            name: round(end - stage_started[name], 1) for name, end in zip(names, ends, strict=True)
        },
        "peak_memory_mib": round(memory.peak_mib),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args()
    if not args.archive.is_file():
        raise SystemExit(f"{args.archive} does not exist: see ../shared/datasets/README.md")

    machine = describe_machine()
    scratch, project, _ = prepare_project("bench-repro-", args.archive, args.set)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # dvc, kedro
        "KEDRO_DISABLE_TELEMETRY": "1",
        "CATDOG_CACHE_DIR": str(scratch / "cache"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
    }

    # As a user with new photos does (README, "The gate set"): the data stages, a gate set
    # frozen from the new test split, then the rest.
    data = run_repro(project, env, scratch / "repro.log", "split")
    subprocess.run(["catdog", "gate-set", "--replace"], cwd=project, env=env, check=True)
    rest = run_repro(project, env, scratch / "repro.log")
    repro = {
        "seconds": round(data["seconds"] + rest["seconds"], 1),
        "stage_seconds": {**data["stage_seconds"], **rest["stage_seconds"]},
        "peak_memory_mib": max(data["peak_memory_mib"], rest["peak_memory_mib"]),
    }
    metrics = json.loads((project / "reports/metrics.json").read_text())
    card = json.loads((project / "data/06_models/model_card.json").read_text())
    results = {
        "benchmark": "bench_repro",
        "machine": machine,
        "archive": args.archive.name,
        "overrides": args.set,
        "repro": repro,
        "test": {
            key: metrics.get(key)
            for key in ("n_images", "accuracy", "log_loss", "roc_auc", "f1", "confusion_matrix")
        },
        "model": {
            key: card.get(key)
            for key in ("architecture", "epochs_run", "best_epoch", "test_time_augmentation")
        },
    }
    if args.keep:
        results["project"] = str(project)
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    save_results("bench_repro", results)


if __name__ == "__main__":
    main()
