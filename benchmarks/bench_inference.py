"""Inference benchmark: the model's forward passes alone, as saved and with batch norms folded.

    .venv/bin/python benchmarks/bench_inference.py --model data/06_models/model.keras
        [--batch-size 32] [--repeats 5]

Times the one probability function that evaluate, predict, serve and the pyfunc use
(core/inference.py) on a batch of random uint8 images at the model's input size: with flip
test-time augmentation and without, on the model as saved and on its folded copy
(core/folding.py, which the function now always makes). Images/s is the batch over the mean
time of `--repeats` calls after one warm-up call; decoding and resizing are not included.
Also reports the largest difference between the two copies' probabilities.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path
from unittest.mock import patch

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from machine import describe_machine, save_results  # noqa: E402


def images_per_s(function, batch, repeats: int) -> tuple[float, np.ndarray]:
    """Throughput of `function` on `batch`, and its answer."""
    answer = function(batch).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        function(batch)
    return len(batch) * repeats / (time.perf_counter() - started), answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("data/06_models/model.keras"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model} does not exist: run `dvc repro` (or pass --model)")
    import keras
    import tensorflow as tf

    from catdog_pipeline.core import folding, inference

    model = keras.models.load_model(args.model)
    shape = (args.batch_size, *model.input_shape[1:])
    rng = np.random.default_rng(0)
    batch = tf.constant(rng.integers(0, 256, shape, dtype=np.uint8))
    results = {"benchmark": "bench_inference", "machine": describe_machine()}
    results.update(model=str(args.model), batch_shape=list(shape), repeats=args.repeats)
    answers = {}
    for folded in (False, True):
        for augmentation in ("flip", None):
            # The model as saved: the same function with the folding made a no-op.
            no_folding = patch.object(folding, "fold_batch_norms", lambda same: same)
            with no_folding if not folded else contextlib.nullcontext():
                function = inference.probability_function(model, augmentation)
            key = f"{'folded' if folded else 'as_saved'}_{augmentation or 'no_tta'}"
            rate, answers[key] = images_per_s(tf.function(function), batch, args.repeats)
            results[f"{key}_images_per_s"] = round(rate, 1)
            print(key, results[f"{key}_images_per_s"], "images/s", flush=True)
    difference = np.abs(answers["folded_flip"] - answers["as_saved_flip"]).max()
    results["largest_probability_difference"] = float(difference)
    save_results("bench_inference", results)


if __name__ == "__main__":
    main()
