"""Benchmark the clean stage on real photos against a plain single-process decode.

    python benchmarks/bench_clean.py [--archive ../shared/datasets/petimages-180-12k.zip]

Prints images/s for a plain PIL decode loop (one process), then images/s and peak memory (this
process and its workers together) for the clean stage's normalize step with one worker and with a
worker per core, then the duplicate search's time.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from PIL import Image

from catdog_pipeline.pipelines.clean.nodes import mark_duplicates, normalize_images
from catdog_pipeline.pipelines.ingest.nodes import build_raw_inventory, fetch_raw_images
from machine import PeakMemory, describe_machine, save_results

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = ROOT.parent / "shared/datasets/petimages-180-12k.zip"


def plain_decode(files: list[Path]) -> float:
    """Seconds for the simplest correct loop: open, fully decode, convert to RGB."""
    start = time.perf_counter()
    for path in files:
        with Image.open(path) as image:
            image.convert("RGB")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    args = parser.parse_args()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["CATDOG_STAGING_DIR"] = scratch
        os.environ["CATDOG_CACHE_DIR"] = str(Path(scratch) / "cache")
        ingest = {**params["ingest"], "source": str(args.archive.resolve()), "sha256": None}
        raw, rejected = fetch_raw_images(ingest, params["classes"])
        inventory = build_raw_inventory(raw, rejected, ingest, params["classes"])
        files = [raw / p for p in inventory.loc[inventory["status"] == "candidate", "raw_path"]]
        results = {"machine": describe_machine(), "images": len(files)}
        results["plain_decode_images_per_s"] = len(files) / plain_decode(files)
        for label, workers in [("clean_1_worker", 1), ("clean_all_cores", 0)]:
            # an empty clean cache each time, so every file is decoded
            os.environ["CATDOG_CLEAN_CACHE_DIR"] = str(Path(scratch) / f"clean-cache-{label}")
            start = time.perf_counter()
            with PeakMemory() as memory:
                _, inspected = normalize_images(
                    raw, inventory, params["image"], {**params["clean"], "workers": workers}
                )
            results[f"{label}_images_per_s"] = len(files) / (time.perf_counter() - start)
            results[f"{label}_peak_rss_mib_all_processes"] = memory.peak_mib
        start = time.perf_counter()
        manifest: pd.DataFrame = mark_duplicates(inspected, params["clean"])
        results["dedupe_seconds"] = time.perf_counter() - start
        results["status_counts"] = manifest["status"].value_counts().to_dict()
    save_results("bench_clean", results)


if __name__ == "__main__":
    main()
