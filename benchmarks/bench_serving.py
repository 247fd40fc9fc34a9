"""Benchmark deployment: the HTTP service under load, and batch `catdog predict`.

    python benchmarks/bench_serving.py [--model data/06_models/model.keras]
        [--archive ../shared/datasets/petimages-180-12k.zip] [--clients 4] [--requests 2000]
        [--seconds 60] [--batch-images 0] [--results bench_serving]

1. Starts `catdog serve` on 127.0.0.1 (a free port) and has `--clients` concurrent clients
   POST one 180 px photo from the archive, until `--requests` answers or `--seconds` have
   passed: requests/s and p50/p90/p99 latency. Target on 2 cores: p99 under 50 ms.
2. Extracts the archive to a temporary folder and runs `catdog predict <folder> --format csv`:
   images/s from its first to its last row (model loading excluded, and reported apart).
   Target on 2 cores: at least 150 images/s.

Without a trained model it builds a randomly initialised model of params.yaml's default
architecture (timing only: its labels mean nothing) and says so. Traffic stays on loopback and
every loop is bounded in count and time. Prints the results as JSON and keeps them in
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from catdog_pipeline.catalog_paths import dataset_path
from machine import describe_machine, save_results

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = ROOT.parent / "shared/datasets/petimages-180-12k.zip"
DEFAULT_MODEL = dataset_path("model", ROOT)
CATDOG = [sys.executable, "-c", "from catdog_pipeline.cli import main; main()"]
START_TIMEOUT_S = 300
WARM_UP_REQUESTS = 20


def random_default_model(folder: Path, params: dict[str, Any]) -> Path:
    """params.yaml's `train.architecture`, randomly initialised, with a model card beside it."""
    from catdog_pipeline.pipelines.train.models import build_model

    classes = list(params["classes"])
    model = build_model(params["image"]["size"], params["train"])
    model.save(folder / "model.keras")
    card = {
        "classes": classes,
        "positive_class": classes[1],
        "image_size": list(params["image"]["size"]),
        "resize_mode": params["image"]["resize_mode"],
        "max_pixels": params["image"]["max_pixels"],
        "architecture": params["train"]["architecture"],
        "note": "randomly initialised by benchmarks/bench_serving.py, for timing only",
    }
    (folder / "model_card.json").write_text(json.dumps(card, indent=2))
    return folder / "model.keras"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_service(model: Path, params: Path, port: int, log: Path) -> subprocess.Popen:
    """`catdog serve` in its own process group; returns once /health answers."""
    server = subprocess.Popen(
        [
            *CATDOG,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model",
            str(model),
            "--params",
            str(params),
        ],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"catdog serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop(server)
    raise RuntimeError(f"catdog serve did not answer within {START_TIMEOUT_S} s")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def load_test(url: str, photo: bytes, clients: int, requests: int, seconds: float) -> dict:
    """`clients` threads, each with a keep-alive connection, POST `photo` until the budget ends."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    files = {"file": ("photo.jpg", photo, "image/jpeg")}

    def client() -> None:
        with httpx.Client(base_url=url, timeout=30) as session:
            while time.monotonic() < deadline:
                with lock:
                    if len(latencies) + len(failures) >= requests:
                        return
                started = time.perf_counter()
                try:
                    answer = session.post("/predict", files=files)
                    failed = None if answer.status_code == 200 else str(answer.status_code)
                except httpx.HTTPError as exc:
                    failed = type(exc).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    if failed:
                        failures.append(failed)
                    else:
                        latencies.append(elapsed)

    with httpx.Client(base_url=url, timeout=30) as session:
        for _ in range(WARM_UP_REQUESTS):
            session.post("/predict", files=files).raise_for_status()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ms = np.asarray(latencies) * 1000
    return {
        "clients": clients,
        "requests": len(latencies),
        "failures": len(failures),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 1),
        "latency_ms": {
            name: round(float(np.percentile(ms, q)), 1)
            for name, q in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))
        },
    }


def batch_predict(model: Path, params: Path, folder: Path, limit: int, batch_size: int) -> dict:
    """`catdog predict` over the folder: steady images/s after its first batch of rows."""
    target = folder if not limit else _first_images(folder, limit)
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            *CATDOG,
            "predict",
            str(target),
            "--model",
            str(model),
            "--params",
            str(params),
            "--format",
            "csv",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert process.stdout is not None
    process.stdout.readline()  # header
    first_row_at = last_row_at = None
    rows = errors = 0
    for line in process.stdout:
        last_row_at = time.perf_counter()
        first_row_at = first_row_at or last_row_at
        rows += 1
        errors += not line.split(",")[1]
    stderr = process.stderr.read() if process.stderr else ""
    if process.wait() != 0 or rows <= batch_size:
        raise RuntimeError(f"catdog predict failed: {stderr}")
    return {
        "images": rows,
        "unreadable": errors,
        "startup_and_first_batch_s": round(first_row_at - started, 1),
        "total_s": round(last_row_at - started, 1),
        # The first batch's rows appear together, once model loading and that batch are done.
        "images_per_s": round((rows - batch_size) / (last_row_at - first_row_at), 1),
    }


def _first_images(folder: Path, limit: int) -> Path:
    subset = folder.parent / "subset"
    subset.mkdir()
    for index, path in enumerate(sorted(folder.rglob("*.jpg"))[:limit]):
        (subset / f"{index}.jpg").symlink_to(path)
    return subset


def cpu_neighbours() -> list[str]:
    """The busiest other processes right now: the benchmark shares the cores with them."""
    listing = subprocess.run(
        ["ps", "-eo", "pid=,pcpu=,args=", "--sort=-pcpu"], capture_output=True, text=True
    ).stdout.splitlines()
    others = [line.strip() for line in listing if line.split()[0] != str(os.getpid())]
    return [line[:120] for line in others[:5]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=2000, help="load-test answers, at most")
    parser.add_argument("--seconds", type=float, default=60, help="load-test time, at most")
    parser.add_argument("--batch-images", type=int, default=0, help="0: the whole archive")
    parser.add_argument("--results", default="bench_serving", help="benchmarks/results/<this>.json")
    args = parser.parse_args()
    if not args.archive.is_file():
        sys.exit(f"{args.archive} not found: the benchmark needs the PetImages archive")
    params = yaml.safe_load(args.params.read_text())
    results: dict[str, Any] = {"machine": describe_machine()}
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        scratch_dir = Path(scratch)
        model = args.model
        if not model.is_file():
            model = random_default_model(scratch_dir, params)
            print(
                f"No trained model at {args.model}: timing a RANDOMLY INITIALISED "
                f"{params['train']['architecture']} instead (its labels mean nothing)."
            )
        results["model"] = str(args.model if model == args.model else f"random {model}")
        with zipfile.ZipFile(args.archive) as archive:
            archive.extractall(scratch_dir / "photos")
        photos = sorted((scratch_dir / "photos").rglob("*.jpg"))
        photo = next(p for p in photos if "Dog" in p.parts).read_bytes()

        port = free_port()
        server = start_service(model, args.params, port, scratch_dir / "serve.log")
        try:
            results["service"] = load_test(
                f"http://127.0.0.1:{port}", photo, args.clients, args.requests, args.seconds
            )
            results["service"]["photo_bytes"] = len(photo)
        finally:
            stop(server)
        results["batch_predict"] = batch_predict(
            model,
            args.params,
            scratch_dir / "photos",
            args.batch_images,
            params["serve"]["batch_size"],
        )
    results["load_after"] = os.getloadavg()
    results["busiest_processes_at_end"] = cpu_neighbours()
    save_results(args.results, results)


if __name__ == "__main__":
    main()
