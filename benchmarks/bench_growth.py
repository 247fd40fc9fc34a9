"""Growth benchmark: ingest, clean and split on 1x, 4x and 16x the 12k archive, as a user runs them.

    nice -n 10 .venv/bin/python benchmarks/bench_growth.py [--scales 1 4 16]
        [--archive ../shared/datasets/petimages-180-12k.zip] [--work /tmp/catdog-growth]
        [--hash-counts 192000 1000000 10000000]

The 1x source is the archive itself. A k-x source holds each of its photos k times: the photo as
it is, and k - 1 new JPEGs of it (mirrored, flipped or turned a quarter, cropped by 2-6 % a side,
or by 12-22 % for the 9th to 16th; JPEG quality 85-95; seeded). Their perceptual hashes lie far
apart (8 bits or more among the 16 versions of 300 photos tried), so clean keeps them as
distinct photos. The generated archives
are kept in --work and reused by later runs.

For each scale, in a fresh clone of the project's last commit (your data/ is left alone) with
`ingest.source` pointing at the source, runs `kedro run --pipeline ingest`, then clean, then
split, each a separate process as a user runs them, and records: wall seconds, the seconds Kedro
reports for the pipeline itself (without its start-up), images/s (the source's photos over each
of the two), CPU seconds (all processes, and the main one alone: clean's driver), the peak
memory of all the stage's processes together (sampled every 0.2 s) and of the main one alone,
the load average, and for clean the duplicate search's seconds (from its log line). Then the
search alone on random 64-bit hashes with planted near neighbours, in this process, for
--hash-counts.
Writes benchmarks/results/bench_growth.json with the ratios 16x (or the largest scale) / 1x.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from machine import CpuSeconds, OwnCpuSeconds, PeakMemory, describe_machine, save_results

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = ROOT.parent / "shared/datasets/petimages-180-12k.zip"
STAGES = ("ingest", "clean", "split")
DUPLICATE_LINE = re.compile(r"Duplicate search: (\d+) decoded images, (\d+) groups, ([\d.]+) s")
CLEAN_CACHE = "CATDOG_CLEAN_CACHE_DIR"  # unset: each scale's clone starts with an empty one
PIPELINE_LINE = re.compile(r"Pipeline execution completed successfully in ([\d.]+) sec")
# The 8 ways to mirror or turn a square photo; variant k uses TURNS[k % 8].
TURNS = (
    None,
    "FLIP_LEFT_RIGHT",
    "FLIP_TOP_BOTTOM",
    "ROTATE_180",
    "ROTATE_90",
    "ROTATE_270",
    "TRANSPOSE",
    "TRANSVERSE",
)


def variants(job: tuple[str, bytes, int, int]) -> list[tuple[str, bytes]]:
    """The photo `name` and its scale - 1 new versions, as (member name, JPEG bytes)."""
    from PIL import Image

    name, data, index, scale = job
    stem, suffix = name.rsplit(".", 1)
    out = [(name, data)]
    with Image.open(io.BytesIO(data)) as photo:
        rgb = photo.convert("RGB")
    for k in range(1, scale):
        rng = np.random.default_rng([index, k])
        low, high = (0.02, 0.06) if k < 8 else (0.12, 0.22)
        left, top, right, bottom = rng.uniform(low, high, 4)
        width, height = rgb.size
        box = (
            int(left * width),
            int(top * height),
            width - int(right * width),
            height - int(bottom * height),
        )
        image = rgb.crop(box)
        if TURNS[k % 8]:
            image = image.transpose(getattr(Image.Transpose, TURNS[k % 8]))
        encoded = io.BytesIO()
        image.save(encoded, "JPEG", quality=int(rng.integers(85, 96)))
        out.append((f"{stem}_v{k:02d}.{suffix}", encoded.getvalue()))
    return out


def scaled_archive(archive: Path, scale: int, work: Path) -> Path:
    """`archive` itself for scale 1; else a zip of every photo and its scale - 1 versions,
    built once in `work` (written under a temporary name, then renamed)."""
    if scale == 1:
        return archive
    target = work / f"{archive.stem}-x{scale}.zip"
    if target.is_file():
        return target
    partial = target.with_suffix(".partial")
    started = time.perf_counter()
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(partial, "w") as out:
        members = sorted(
            (info for info in source.infolist() if info.filename.lower().endswith(".jpg")),
            key=lambda info: info.filename,
        )
        jobs = ((m.filename, source.read(m), i, scale) for i, m in enumerate(members))
        with get_context("forkserver").Pool(os.cpu_count()) as pool:
            for photos in pool.imap(variants, jobs, chunksize=32):
                for name, data in photos:
                    out.writestr(name, data)  # stored: JPEGs do not compress
    os.replace(partial, target)
    print(f"built {target} in {time.perf_counter() - started:.0f} s", flush=True)
    return target


def project_clone(work: Path, source: Path) -> tuple[Path, str]:
    """A clone of the project's last commit in `work`, its ingest.source set to `source`."""
    project = work / "project"
    shutil.rmtree(project, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(project)], check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["ingest"].update(source=str(source), sha256=None)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return project, commit


def run_stage(stage: str, project: Path, env: dict[str, str], log_file: Path) -> dict[str, Any]:
    """`kedro run --pipeline <stage>` in its own process: times, CPU, peak memory, its log."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    with log_file.open("w") as log, CpuSeconds(every_s=0.2) as cpu:
        process = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", "--pipeline", stage],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        with PeakMemory(process.pid, every_s=0.2) as memory, OwnCpuSeconds(process.pid) as own:
            for line in process.stdout:
                log.write(line)
            _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"`kedro run --pipeline {stage}` failed; see {log_file}")
    log = log_file.read_text()
    return {
        "seconds": round(seconds, 1),
        "pipeline_seconds": float(PIPELINE_LINE.search(log)[1]),
        "cpu_seconds": round(cpu.seconds, 1),
        "cpu_seconds_main_process": round(own.seconds, 1),
        "peak_memory_mib_all_processes": round(memory.peak_mib),
        "peak_memory_mib_main_process": round(usage.ru_maxrss / 1024),
        "load_average_1min_at_start": round(load, 2),
        "_log": log,
    }


def measure_scale(scale: int, source: Path, work: Path) -> dict[str, Any]:
    """Ingest, clean and split of `source` in a fresh project clone; the clone is removed."""
    import pandas as pd

    project, commit = project_clone(work, source)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("CATDOG_STAGING_DIR", CLEAN_CACHE)},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(project / "src"),
        "KEDRO_DISABLE_TELEMETRY": "1",
        "CATDOG_CACHE_DIR": str(work / "downloads"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
    }
    stages = {
        stage: run_stage(stage, project, env, work / f"x{scale}-{stage}.log") for stage in STAGES
    }
    inventory = pd.read_parquet(project / "data/01_raw/inventory.parquet")
    manifest = pd.read_parquet(project / "data/02_intermediate/manifest.parquet")
    photos = int((inventory["status"] == "candidate").sum())
    searched = DUPLICATE_LINE.search(stages["clean"]["_log"])
    for figures in stages.values():
        del figures["_log"]
        figures["images_per_s"] = round(photos / figures["seconds"], 1)
        figures["images_per_s_in_pipeline"] = round(photos / figures["pipeline_seconds"], 1)
    stages["clean"]["duplicate_search_seconds"] = float(searched[3]) if searched else None
    result = {
        "scale": scale,
        "source": source.name,
        "source_mib": round(source.stat().st_size / 2**20),
        "photos": photos,
        "statuses": manifest["status"].value_counts().to_dict(),
        "duplicate_groups": int(searched[2]) if searched else None,
        "pipeline_commit": commit,
        "stages": stages,
    }
    shutil.rmtree(project, ignore_errors=True)
    return result


def hash_search(counts: list[int]) -> list[dict[str, Any]]:
    """The duplicate search (index, then components) on `count` random hashes, 1 % of them
    copies of others with 0-6 bits flipped, at the default distance of 4 bits."""
    from catdog_pipeline.pipelines.clean.duplicates import group_ids
    from catdog_pipeline.pipelines.clean.hamming import hamming_pairs, search_plan

    distance = yaml.safe_load((ROOT / "params.yaml").read_text())["clean"][
        "near_duplicate_distance"
    ]
    results = []
    for count in counts:
        rng = np.random.default_rng(count)
        hashes = rng.integers(0, 2**63, count, dtype=np.uint64) | np.uint64(1 << 63)
        planted = rng.integers(0, count, count // 100)
        bits = rng.integers(0, 64, (len(planted), 6))
        masks = np.bitwise_or.reduce(np.uint64(1) << bits.astype(np.uint64), axis=1)
        masks[rng.random(len(planted)) < 0.3] = 0
        hashes[rng.integers(0, count, len(planted))] = hashes[planted] ^ masks
        started = time.perf_counter()
        with PeakMemory(every_s=0.05) as memory:
            pairs = hamming_pairs(hashes, distance)
            groups = group_ids(count, pairs)
        results.append(
            {
                "hashes": count,
                "bands": search_plan(count, distance),
                "seconds": round(time.perf_counter() - started, 2),
                "pairs": len(pairs),
                "groups_of_two_or_more": int((np.bincount(groups) > 1).sum()),
                "peak_memory_mib_this_process": round(memory.peak_mib),
                "load_average_1min_at_start": round(os.getloadavg()[0], 2),
            }
        )
        print(results[-1], flush=True)
    return results


def growth(scales: list[dict[str, Any]]) -> dict[str, Any]:
    """Largest scale over 1x, per stage: images/s and peak memory (targets: >= 0.8, <= 1.5)."""
    first, last = scales[0], scales[-1]
    ratios = {}
    for stage in STAGES:
        a, b = first["stages"][stage], last["stages"][stage]
        ratios[stage] = {
            "images_per_s": round(b["images_per_s"] / a["images_per_s"], 2),
            "images_per_s_in_pipeline": round(
                b["images_per_s_in_pipeline"] / a["images_per_s_in_pipeline"], 2
            ),
            "cpu_seconds_per_image": round(
                (b["cpu_seconds"] / last["photos"]) / (a["cpu_seconds"] / first["photos"]), 2
            ),
            "peak_memory_all_processes": round(
                b["peak_memory_mib_all_processes"] / a["peak_memory_mib_all_processes"], 2
            ),
        }
    return {"of": f"{last['scale']}x over {first['scale']}x", "per_stage": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--work", type=Path, default=Path("/tmp/catdog-growth"))
    parser.add_argument(
        "--hash-counts", type=int, nargs="*", default=[192_000, 1_000_000, 10_000_000]
    )
    args = parser.parse_args()
    if not args.archive.is_file():
        raise SystemExit(f"{args.archive} does not exist: see ../shared/datasets/README.md")
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"benchmark": "bench_growth", "machine": describe_machine()}
    scales = []
    for scale in sorted(args.scales):
        source = scaled_archive(args.archive.resolve(), scale, args.work)
        scales.append(measure_scale(scale, source, args.work))
        print(yaml.safe_dump(scales[-1], sort_keys=False), flush=True)
    results["scales"] = scales
    if len(scales) > 1:
        results["growth"] = growth(scales)
    results["hash_search"] = hash_search(args.hash_counts)
    results["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    results["note"] = (
        "machine shared with other jobs (see the load averages); run with nice -n 10; "
        "images/s: the source's photos over the stage's wall seconds"
    )
    save_results("bench_growth", results)


if __name__ == "__main__":
    main()
