"""Benchmark training through Kedro on real photos against a bare `model.fit` of the same model.

    python benchmarks/bench_train.py --archive ../shared/datasets/petimages-180-12k.zip \
        [--set train.epochs=3 --set train.deterministic=false ...] [--bare-epochs 3]

In a temporary copy of the project (so the project's data/, reports/ and mlflow.db are left
alone), runs `kedro run` for each stage from ingest to evaluate, and reports the test
accuracy and log loss (reports/metrics.json), each stage's wall time and peak memory, and the
training images/s (validation included), over all epochs and in the median epoch after the
first. Then fits the same model (same params, seed and determinism) on the same split held in
memory as NumPy arrays, for `--bare-epochs` epochs, to compare steady-state images/s: the
tf.data pipeline should reach >= 0.9x the bare fit.
Prints the results as JSON and writes them to benchmarks/results/<--results>.json
(default bench_train.json).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from machine import describe_machine, save_results

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ARCHIVE = ROOT.parent / "shared/datasets/petimages-180-12k.zip"
# The train node's summary line (nodes.py): "... in 812.3 s: 95.1 training images/s ...".
STAGES = ("ingest", "clean", "split", "train", "evaluate")
THROUGHPUT_LINE = re.compile(r"Fitted (\d+) epoch\(s\) of (\d+) images in ([\d.]+) s: ([\d.]+)")
# Keras' verbose=2 line closing each epoch: "300/300 - 98s - 327ms/step - accuracy: ...".
EPOCH_LINE = re.compile(r"^(\d+)/\1 - \S+ - ([\d.]+)(ms|s)/step", re.MULTILINE)


def copy_project(destination: Path) -> Path:
    """The project's files as git sees them (no data, venv, runs), symlinks kept."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in sorted({name for name in listed.split("\0") if name}):
        source = ROOT / name
        if source.exists() or source.is_symlink():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name, follow_symlinks=False)
    return destination


def set_param(params: dict[str, Any], dotted: str) -> None:
    """Apply one `--set a.b.c=value` override (value parsed as YAML) to the params in place."""
    key, _, value = dotted.partition("=")
    *parents, leaf = key.split(".")
    section = params
    for parent in parents:
        section = section[parent]
    if leaf not in section:
        raise SystemExit(f"--set {dotted}: params.yaml has no key '{key}'")
    section[leaf] = yaml.safe_load(value)


def prepare_project(
    prefix: str, archive: Path, overrides: list[str]
) -> tuple[Path, Path, dict[str, Any]]:
    """A scratch folder holding a project copy that ingests `archive` with `overrides` set."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    project = copy_project(scratch / "project")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["ingest"].update(source=str(archive.resolve()), sha256=None)
    for override in overrides:
        set_param(params, override)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return scratch, project, params


def run_stage(pipeline: str, project: Path, env: dict[str, str], log_dir: Path) -> dict[str, Any]:
    """`kedro run --pipeline <pipeline>`: wall time, peak RSS of the process tree, its log."""
    log_file = log_dir / f"{pipeline}.log"
    command = [sys.executable, "-m", "kedro", "run", "--pipeline", pipeline]
    started = time.perf_counter()
    with log_file.open("w") as log:
        process = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"`kedro run --pipeline {pipeline}` failed; see {log_file}")
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024),
        "log": log_file.read_text(),
    }


def steady_images_per_s(epoch_seconds: list[float], images: int) -> float | None:
    """images/s of the median epoch after the first (which also traces and warms up)."""
    later = sorted(epoch_seconds[1:])
    return round(images / later[len(later) // 2], 1) if later else None


def pipeline_epoch_seconds(log: str) -> list[float]:
    """Each epoch's wall time (validation included) from the Keras lines of the train log."""
    unit = {"ms": 1e-3, "s": 1.0}
    return [int(steps) * float(step) * unit[u] for steps, step, u in EPOCH_LINE.findall(log)]


def bare_fit(project: Path, params: dict[str, Any], epochs: int) -> dict[str, Any]:
    """images/s of `model.fit` on in-memory arrays: the same model, params and seed."""
    import keras
    import numpy as np
    import pandas as pd
    from PIL import Image

    from catdog_pipeline.pipelines.train import fitting, models

    train = params["train"]
    manifest = pd.read_parquet(project / "data/03_primary/split.parquet")
    images_root = project / "data/02_intermediate/images"

    def arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
        rows = manifest[manifest["split"] == split]
        images = np.stack([np.asarray(Image.open(images_root / p)) for p in rows["image_path"]])
        return images, rows["label_index"].to_numpy(dtype=np.float32)

    (x_train, y_train), validation = arrays("train"), arrays("val")
    fitting.make_reproducible(train["seed"], train["deterministic"])
    model = models.build_model(params["image"]["size"], train)
    fitting.compile_model(model, train, math.ceil(len(x_train) / train["batch_size"]))
    epoch_seconds: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            epoch_seconds.append(time.perf_counter() - self.started)

    started = time.perf_counter()
    model.fit(
        x_train,
        y_train,
        batch_size=train["batch_size"],
        epochs=epochs,
        validation_data=validation,
        class_weight=fitting.class_weights(y_train, train["class_weight"]),
        callbacks=[EpochTimer()],
        verbose=2,
    )
    seconds = time.perf_counter() - started
    return {
        "epochs": epochs,
        "seconds": round(seconds, 1),
        "training_images_per_s": round(epochs * len(x_train) / seconds, 1),
        "steady_images_per_s": steady_images_per_s(epoch_seconds, len(x_train)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--bare-epochs", type=int, default=3, help="0 skips the bare fit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    parser.add_argument(
        "--results", default="bench_train", help="results file name under benchmarks/results/"
    )
    args = parser.parse_args()
    if not args.archive.is_file():
        raise SystemExit(f"{args.archive} does not exist: see ../shared/datasets/README.md")

    scratch, project, params = prepare_project("bench-train-", args.archive, args.set)
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "1",
        "CATDOG_STAGING_DIR": str(scratch / "staging"),
        "CATDOG_CACHE_DIR": str(scratch / "cache"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
        "COLUMNS": "400",  # Kedro's rich log handler would wrap the throughput line at 80
    }

    results: dict[str, Any] = {"machine": describe_machine(), "archive": args.archive.name}
    results["overrides"] = args.set
    # Stage by stage, as `dvc repro` runs them.
    stages = {name: run_stage(name, project, env, scratch) for name in STAGES}
    fitted = THROUGHPUT_LINE.search(stages["train"]["log"])
    metrics = json.loads((project / "reports/metrics.json").read_text())
    card = json.loads((project / "data/06_models/model_card.json").read_text())
    results["test"] = {key: metrics.get(key) for key in ("accuracy", "log_loss", "roc_auc")}
    results["model"] = {key: card[key] for key in ("architecture", "epochs_run", "best_epoch")}
    results["stages"] = {
        name: {key: value for key, value in stage.items() if key != "log"}
        for name, stage in stages.items()
    }
    results["pipeline_fit"] = {
        "epochs": int(fitted[1]),
        "train_images": int(fitted[2]),
        "seconds": float(fitted[3]),
        "training_images_per_s": float(fitted[4]),
        "steady_images_per_s": steady_images_per_s(
            pipeline_epoch_seconds(stages["train"]["log"]), int(fitted[2])
        ),
    }
    if args.bare_epochs:
        results["bare_fit"] = bare_fit(project, params, args.bare_epochs)
        # Steady state against steady state: the first epoch's tracing weighs more in a short fit.
        pipeline_rate = results["pipeline_fit"]["steady_images_per_s"]
        bare_rate = results["bare_fit"]["steady_images_per_s"]
        if pipeline_rate and bare_rate:
            results["pipeline_vs_bare"] = round(pipeline_rate / bare_rate, 2)
    if args.keep:
        results["project"] = str(project)
    else:
        shutil.rmtree(scratch, ignore_errors=True)

    save_results(args.results, results)


if __name__ == "__main__":
    main()
