"""DVC push and pull of the clean images of the 12k archive to a local remote: seconds, files/s.

    nice -n 10 .venv/bin/python benchmarks/bench_dvc_transfer.py
        [--archive ../shared/datasets/petimages-180-12k.zip] [--work /tmp/catdog-dvc-transfer]

In a fresh clone of the project's last commit with `ingest.source` pointing at the archive,
`dvc repro clean` (ingest and clean; DVC hashes the outputs into its cache). Then, to a folder
as the remote (`dvc remote add --local`), each timed as a user runs it:
- shards, what the clean stage writes (`image_shards`, tar files of ~64 MiB): `dvc push clean`;
  then with the cache, the shards and the unpacked folder deleted, `dvc pull clean`, and the
  unpacking the first stage to read `clean_images` does (`ShardedImageFolderDataset.load`);
- files, the layout before shards: the same images as one file each, `dvc add`ed as a folder,
  pushed and pulled the same way: the cost of a file against the cost of a byte.
Reports seconds, files/s, MiB/s and images/s of each, and the hours 10,000,000 images would
take at the measured images/s. Writes benchmarks/results/bench_dvc_transfer.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_growth import DEFAULT_ARCHIVE, project_clone
from machine import PeakMemory, describe_machine, save_results

IMAGES = Path("data/02_intermediate/images")
SHARDS = Path("data/02_intermediate/image_shards")
TEN_MILLION = 10_000_000


def dvc(project: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    """One `dvc` command: wall seconds, peak memory of its processes, load average."""
    load = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(
        ["dvc", *args], cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    with PeakMemory(process.pid, every_s=0.2) as memory:
        output = process.communicate()[0].decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"`dvc {' '.join(args)}` failed:\n{output[-3000:]}")
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_memory_mib": round(memory.peak_mib),
        "load_average_1min_at_start": round(load, 2),
    }


def folder_size(folder: Path) -> tuple[int, int]:
    files = [path for path in folder.rglob("*") if path.is_file()]
    return len(files), sum(path.stat().st_size for path in files)


def rates(timing: dict[str, Any], files: int, size: int, images: int) -> dict[str, Any]:
    """`timing` with files/s, MiB/s, images/s and the hours 10,000,000 images would take."""
    images_per_s = images / timing["seconds"]
    return {
        **timing,
        "files_per_s": round(files / timing["seconds"], 1),
        "mib_per_s": round(size / 2**20 / timing["seconds"], 1),
        "images_per_s": round(images_per_s, 1),
        "hours_for_10m_images_at_this_rate": round(TEN_MILLION / images_per_s / 3600, 1),
    }


def unpack(project: Path, env: dict[str, str]) -> dict[str, Any]:
    """What the first stage to read clean_images does after a `dvc pull`: unpack the shards."""
    code = (
        "from catdog_pipeline.datasets import ShardedImageFolderDataset as D; "
        f"D(path='{SHARDS}', unpacked='{IMAGES}').load()"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=project, env=env, check=True)
    return {"seconds": round(time.perf_counter() - started, 1)}


def push_and_pull(
    project: Path, env: dict[str, str], target: str, folder: Path, images: int
) -> dict[str, Any]:
    """`dvc push target`, then, with the cache and `folder` (holding `images` images)
    deleted, `dvc pull target`."""
    files, size = folder_size(project / folder)
    pushed = dvc(project, env, "push", target)
    shutil.rmtree(project / ".dvc/cache")
    shutil.rmtree(project / folder)
    pulled = dvc(project, env, "pull", target)
    if folder_size(project / folder) != (files, size):
        raise SystemExit(f"`dvc pull {target}` did not bring back the {files} files of {folder}")
    return {
        "files": files,
        "mib": round(size / 2**20, 1),
        "push": rates(pushed, files, size, images),
        "pull": rates(pulled, files, size, images),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--work", type=Path, default=Path("/tmp/catdog-dvc-transfer"))
    args = parser.parse_args()
    if not args.archive.is_file():
        raise SystemExit(f"{args.archive} does not exist: see ../shared/datasets/README.md")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    results: dict[str, Any] = {"benchmark": "bench_dvc_transfer", "machine": describe_machine()}
    project, commit = project_clone(args.work, args.archive.resolve())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CATDOG_")},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(project / "src"),
        "KEDRO_DISABLE_TELEMETRY": "1",
        "CATDOG_CACHE_DIR": str(args.work / "downloads"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}",
    }
    results["pipeline_commit"] = commit
    results["repro_clean"] = dvc(project, env, "repro", "clean")
    remote = args.work / "remote"
    dvc(project, env, "remote", "add", "--local", "-d", "bench", str(remote))
    images = folder_size(project / IMAGES)[0] - 1  # less the `.unpacked-from` stamp
    shutil.rmtree(project / IMAGES)  # `dvc pull` brings the shards; the folder is unpacked after
    results["shards"] = push_and_pull(project, env, "clean", SHARDS, images)
    results["shards"]["unpack"] = rates(unpack(project, env), images, 0, images)
    files = Path("files")
    shutil.copytree(project / IMAGES, project / files)
    (project / files / ".unpacked-from").unlink()
    results["add_files"] = dvc(project, env, "add", str(files))
    results["files"] = push_and_pull(project, env, f"{files}.dvc", files, images)
    results["remote"] = "a local folder (same disk): no network, so this is DVC's own cost"
    results["load_average_at_end"] = [round(value, 2) for value in os.getloadavg()]
    results["note"] = "machine shared with other jobs (see the load averages); run with nice -n 10"
    shutil.rmtree(args.work, ignore_errors=True)
    save_results("bench_dvc_transfer", results)


if __name__ == "__main__":
    main()
