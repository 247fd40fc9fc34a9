"""Inference benchmark: the model's forward passes alone, as saved, folded, and per batch size.

    .venv/bin/python benchmarks/bench_inference.py --model data/06_models/model.keras
        [--batch-size 32] [--batch-sizes 1 32 64 128] [--repeats 5] [--no-tflite]

Times the one probability function that evaluate, predict, serve and the pyfunc use
(core/inference.py) on a batch of random uint8 images at the model's input size: with flip
test-time augmentation and without, on the model as saved and on its folded copy
(core/folding.py, which the function now always makes). Then, without test-time augmentation,
the folded function at each of `--batch-sizes`; and, as a ceiling for this CPU, the same folded
network run by another engine: TensorFlow Lite with XNNPACK, one image per call, one
interpreter on both cores and two single-threaded interpreters side by side. Images/s is the
images over the mean time of `--repeats` calls after one warm-up call; decoding and resizing
are not included. Also reports the largest difference between the copies' probabilities, and
an interleaved A/B of two ways to run flip: two calls (what core/inference.py does) against
one call on the images and their mirror images as one batch of 2n (median ms per call).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import threading
import time
from pathlib import Path
from unittest.mock import patch

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from machine import describe_machine, save_results  # noqa: E402


def images_per_s(function, batch, repeats: int) -> tuple[float, np.ndarray]:
    """Throughput of `function` on `batch`, and its answer."""
    answer = np.asarray(function(batch))
    started = time.perf_counter()
    for _ in range(repeats):
        function(batch)
    return len(batch) * repeats / (time.perf_counter() - started), answer


def tflite_runner(flatbuffer: bytes, threads: int):
    """A function running one (1, h, w, 3) uint8 image through a TFLite interpreter."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=flatbuffer, num_threads=threads)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]

    def run(image: np.ndarray) -> np.ndarray:
        interpreter.set_tensor(source, image)
        interpreter.invoke()  # releases the GIL: two interpreters run side by side
        return interpreter.get_tensor(target).reshape(-1)

    return run


def tflite_ceiling(folded_model, image: np.ndarray, repeats: int) -> dict[str, float]:
    """Images/s of TFLite + XNNPACK on one image per call: 2 threads, and 2 x 1 thread."""
    import tensorflow as tf

    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints every capture
        flatbuffer = tf.lite.TFLiteConverter.from_keras_model(folded_model).convert()
    results = {}
    rate, _ = images_per_s(tflite_runner(flatbuffer, 2), image, repeats)
    results["tflite_1_interpreter_2_threads_images_per_s"] = round(rate, 1)
    runners = [tflite_runner(flatbuffer, 1) for _ in range(2)]
    for run in runners:
        run(image)

    def loop(run) -> None:
        for _ in range(repeats):
            run(image)

    threads = [threading.Thread(target=loop, args=(run,)) for run in runners]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = 2 * repeats / (time.perf_counter() - started)
    results["tflite_2_interpreters_1_thread_images_per_s"] = round(rate, 1)
    return results


def flip_one_batch_ab(model, batches: dict[int, np.ndarray], rounds: int = 5) -> dict:
    """Median ms per call of flip as two calls (core/inference.py) and as one batch of 2n,
    alternating; `model` has its batch norms folded already."""
    import tensorflow as tf

    from catdog_pipeline.core import inference

    two_calls = tf.function(inference.probability_function(model, "flip"))

    @tf.function
    def one_batch(batch):
        both = tf.concat([batch, tf.reverse(batch, axis=[2])], axis=0)
        answers = tf.reshape(model(both, training=False), [2, -1])
        return (answers[0] + answers[1]) / 2

    results = {}
    for size, batch in batches.items():
        calls = max(3, 64 // size)
        milliseconds: dict[str, list[float]] = {"two_calls": [], "one_batch": []}
        for function in (two_calls, one_batch):
            function(batch)
        for _ in range(rounds):
            for name, function in (("two_calls", two_calls), ("one_batch", one_batch)):
                started = time.perf_counter()
                for _ in range(calls):
                    function(batch)
                milliseconds[name].append(1000 * (time.perf_counter() - started) / calls)
        results[str(size)] = {k: round(float(np.median(v)), 1) for k, v in milliseconds.items()}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("data/06_models/model.keras"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 64, 128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-tflite", action="store_true", help="skip the TFLite ceiling")
    args = parser.parse_args()
    if not args.model.is_file():
        raise SystemExit(f"{args.model} does not exist: run `dvc repro` (or pass --model)")
    import keras
    import tensorflow as tf

    from catdog_pipeline.core import folding, inference

    model = keras.models.load_model(args.model)
    rng = np.random.default_rng(0)

    def random_batch(size: int) -> np.ndarray:
        return rng.integers(0, 256, (size, *model.input_shape[1:]), dtype=np.uint8)

    batch = tf.constant(random_batch(args.batch_size))
    results = {"benchmark": "bench_inference", "machine": describe_machine()}
    results.update(model=str(args.model), batch_shape=list(batch.shape), repeats=args.repeats)
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

    folded_no_tta = tf.function(inference.probability_function(model, None))
    by_batch = {}
    for size in args.batch_sizes:
        calls = max(args.repeats, 256 // size)  # a comparable number of images per size
        rate, _ = images_per_s(folded_no_tta, tf.constant(random_batch(size)), calls)
        by_batch[str(size)] = round(rate, 1)
        print(f"folded_no_tta batch {size}", by_batch[str(size)], "images/s", flush=True)
    results["folded_no_tta_images_per_s_by_batch_size"] = by_batch
    folded = folding.fold_batch_norms(model)
    sizes = (1, args.batch_size)
    ab = flip_one_batch_ab(folded, {size: tf.constant(random_batch(size)) for size in sizes})
    results["flip_ms_per_call_two_calls_vs_one_batch"] = ab
    print("flip, ms per call, by batch size:", ab, flush=True)
    if not args.no_tflite:
        ceiling = tflite_ceiling(folded, random_batch(1), 100)
        results["no_tta_other_engine"] = ceiling
        print(ceiling, flush=True)
    save_results("bench_inference", results)


if __name__ == "__main__":
    main()
