"""Benchmark incremental cleaning: a full clean of 12,000 photos vs. adding 3,000 to 9,000.

    nice -n 10 python benchmarks/bench_incremental.py
        [--archive ../shared/datasets/petimages-180-12k.zip] [--rounds 2]

Splits the archive into two sources, a base of 9,000 photos (three of every four) and an
increment of 3,000 (every fourth), as zips in a temporary folder. Then, with the parameters of
params.yaml (clean.workers 0: a process per core), in each round:
- full: ingest both sources, clean all 12,000 from an empty clean cache;
- incremental: with another empty cache, ingest and clean the base alone (`source: base.zip`),
  then ingest both sources (`source: [base.zip, increment.zip]`) and clean again: the figure.
Each clean is the clean stage's three nodes (decode or take from the cache, duplicates over the
whole set, summary), timed in this process: wall seconds, CPU seconds and peak memory of this
process and its workers together. Kedro's start-up and DVC's hashing, the same for both, are not
included. The first round checks that the incremental manifest and images are identical to the
full clean's. On a shared machine wall times swing with the load, so the fastest round of each
is reported (all rounds are kept) and CPU seconds, which the load hardly changes, beside them.
Writes benchmarks/results/bench_incremental.json (with the machine and its load averages).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

from machine import CpuSeconds, PeakMemory, describe_machine, save_results

if TYPE_CHECKING:
    import pandas as pd

# The pipeline (and pandas) are imported inside the functions, not here: every worker of clean's
# process pool re-runs the top of the main script (Python's forkserver re-imports `__main__`
# in each worker), which under `kedro run` is Kedro's launcher. Importing the pipeline here
# would charge each worker ~2 CPU-seconds that a real run does not pay.

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = ROOT.parent / "shared/datasets/petimages-180-12k.zip"
EVERY = 4  # every fourth photo goes to the increment


def split_archive(archive: Path, scratch: Path) -> tuple[Path, Path]:
    """Write base.zip (3 of every 4 members) and increment.zip (the 4th) from `archive`."""
    base, increment = scratch / "base.zip", scratch / "increment.zip"
    with (
        zipfile.ZipFile(archive) as source,
        zipfile.ZipFile(base, "w") as base_zip,
        zipfile.ZipFile(increment, "w") as increment_zip,
    ):
        members = [info for info in source.infolist() if not info.is_dir()]
        for index, member in enumerate(sorted(members, key=lambda info: info.filename)):
            target = increment_zip if index % EVERY == EVERY - 1 else base_zip
            target.writestr(member.filename, source.read(member))
    return base, increment


def ingest(sources: str | list[str], params: dict) -> tuple[Path, pd.DataFrame, float]:
    from catdog_pipeline.pipelines.ingest.nodes import build_raw_inventory, fetch_raw_images

    started = time.perf_counter()
    ingest_params = {**params["ingest"], "source": sources, "sha256": None}
    raw, rejected = fetch_raw_images(ingest_params, params["classes"])
    inventory = build_raw_inventory(raw, rejected, ingest_params, params["classes"])
    return raw, inventory, time.perf_counter() - started


def clean(raw: Path, inventory: pd.DataFrame, params: dict) -> dict[str, Any]:
    """The clean stage's nodes: wall and CPU seconds, peak memory of this process and workers."""
    from catdog_pipeline.pipelines.clean import incremental
    from catdog_pipeline.pipelines.clean.nodes import (
        mark_duplicates,
        normalize_images,
        summarize_cleaning,
    )

    load = os.getloadavg()[0]
    started = time.perf_counter()
    with (
        mock.patch.object(incremental, "map_files", wraps=incremental.map_files) as decoding,
        PeakMemory() as memory,
        CpuSeconds() as cpu,
    ):
        images, inspected = normalize_images(raw, inventory, params["image"], params["clean"])
        normalize_s = time.perf_counter() - started
        manifest = mark_duplicates(inspected, params["clean"])
        summary = summarize_cleaning(manifest)
    seconds = time.perf_counter() - started
    decoded = sum(len(call.args[1]) for call in decoding.call_args_list)
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu.seconds, 2),
        "normalize_seconds": round(normalize_s, 2),
        "files_decoded": decoded,
        "files_from_cache": int((inventory["status"] == "candidate").sum()) - decoded,
        "peak_memory_mib": round(memory.peak_mib),
        "kept": summary["kept"],
        "load_average_1min_at_start": round(load, 2),
        "_images": images,
        "_manifest": manifest,
    }


def folder_digest(folder: Path) -> str:
    """One sha256 over every file's relative path and bytes."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def one_round(scratch: Path, base: Path, increment: Path, params: dict, check: bool) -> dict:
    """A full clean of both sources, then the base alone and the increment added (own caches)."""
    round_folder = Path(tempfile.mkdtemp(prefix="round-", dir=scratch))
    os.environ["CATDOG_CLEAN_CACHE_DIR"] = str(round_folder / "cache-full")
    raw_all, inventory_all, ingest_all_s = ingest([str(base), str(increment)], params)
    full = clean(raw_all, inventory_all, params)
    os.environ["CATDOG_CLEAN_CACHE_DIR"] = str(round_folder / "cache-incremental")
    raw_base, inventory_base, ingest_base_s = ingest(str(base), params)
    base_clean = clean(raw_base, inventory_base, params)
    incremental = clean(raw_all, inventory_all, params)
    runs = {"full_clean": full, "base_clean": base_clean, "incremental_clean": incremental}
    result: dict[str, Any] = {
        "files": {"base": len(inventory_base), "both": len(inventory_all)},
        "ingest_seconds": {"base": round(ingest_base_s, 2), "both": round(ingest_all_s, 2)},
        **runs,
    }
    if check:
        result["incremental_output_identical_to_full"] = bool(
            full["_manifest"].equals(incremental["_manifest"])
            and folder_digest(full["_images"]) == folder_digest(incremental["_images"])
        )
    for run in runs.values():
        del run["_images"], run["_manifest"]
    shutil.rmtree(round_folder, ignore_errors=True)
    shutil.rmtree(scratch / "staging", ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--rounds", type=int, default=2, help="repeat; the fastest is reported")
    args = parser.parse_args()
    if not args.archive.is_file():
        raise SystemExit(f"{args.archive} does not exist: see ../shared/datasets/README.md")
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    results: dict[str, Any] = {"machine": describe_machine(), "archive": args.archive.name}
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as folder:
        scratch = Path(folder)
        os.environ["CATDOG_STAGING_DIR"] = str(scratch / "staging")
        os.environ["CATDOG_CACHE_DIR"] = str(scratch / "downloads")
        base, increment = split_archive(args.archive.resolve(), scratch)
        rounds = [
            one_round(scratch, base, increment, params, index == 0) for index in range(args.rounds)
        ]
    best = {
        name: min((r[name] for r in rounds), key=lambda run: run["seconds"])
        for name in ("full_clean", "base_clean", "incremental_clean")
    }
    results.update(
        {
            "sources": {"base": "3 of every 4 photos", "increment": "every 4th photo"},
            "files": rounds[0]["files"],
            **best,
            "incremental_over_full_seconds": round(
                best["incremental_clean"]["seconds"] / best["full_clean"]["seconds"], 3
            ),
            "incremental_over_full_cpu_seconds": round(
                best["incremental_clean"]["cpu_seconds"] / best["full_clean"]["cpu_seconds"], 3
            ),
            "incremental_output_identical_to_full": rounds[0][
                "incremental_output_identical_to_full"
            ],
            "rounds": rounds,
            "load_average_at_end": [round(value, 2) for value in os.getloadavg()],
            "note": "machine shared with other jobs (see the load averages); run with nice -n 10; "
            "each figure is the fastest of the rounds",
        }
    )
    save_results("bench_incremental", results)


if __name__ == "__main__":
    main()
