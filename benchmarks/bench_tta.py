"""What flip test-time augmentation gains: a trained project's test split, with and without it.

    .venv/bin/python benchmarks/bench_tta.py [--project .]

Scores the test split of `--project` (its data/03_primary/split.parquet, clean images and
data/06_models/model.keras, as `dvc repro` left them) through the one probability function
that evaluate, predict and serve use, once with `flip` and once with none: accuracy and log
loss at the project's `evaluate.threshold`, and the seconds each took. Writes
benchmarks/results/bench_tta.json.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from machine import describe_machine, save_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    args = parser.parse_args()
    models = args.project / "data" / "06_models"
    if not (models / "model.keras").is_file():
        raise SystemExit(f"{models / 'model.keras'} does not exist: run `dvc repro` there first")
    import keras
    import tensorflow as tf
    from sklearn.metrics import accuracy_score, log_loss

    from catdog_pipeline.core import inference, tf_input
    from catdog_pipeline.core.model_card import predicts_positive

    params = yaml.safe_load((args.project / "params.yaml").read_text())
    threshold = float(params["evaluate"]["threshold"])
    model = keras.models.load_model(models / "model.keras")
    manifest = pd.read_parquet(args.project / "data" / "03_primary" / "split.parquet")
    images = tf_input.image_dataset(
        tf_input.image_files(manifest, args.project / "data/02_intermediate/images", "test"),
        tf_input.split_labels(manifest, "test"),
        image_size=model.input_shape[1:3],
        batch_size=64,
    )
    truth = np.concatenate([labels.numpy() for _, labels in images])
    results = {"benchmark": "bench_tta", "machine": describe_machine()}
    results.update(project=str(args.project.resolve()), test_photos=len(truth))
    for augmentation in ("flip", None):
        probabilities = tf.function(inference.probability_function(model, augmentation))
        started = time.perf_counter()
        p_positive = np.concatenate([probabilities(batch).numpy() for batch, _ in images])
        seconds = time.perf_counter() - started
        predicted = predicts_positive(p_positive.astype(np.float64), threshold)
        results[augmentation or "none"] = {
            "accuracy": round(float(accuracy_score(truth, predicted)), 4),
            "log_loss": round(float(log_loss(truth, p_positive.astype(np.float64))), 4),
            "wrong": int((predicted != truth).sum()),
            "seconds": round(seconds, 1),
        }
        print(augmentation or "none", results[augmentation or "none"], flush=True)
    save_results("bench_tta", results)


if __name__ == "__main__":
    main()
