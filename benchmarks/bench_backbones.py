"""What the packaged backbones buy: Lite0, Lite1 and Lite2 as frozen feature extractors.

    .venv/bin/python benchmarks/bench_backbones.py --project PATH [--train-images 3000]
        [--backbones EfficientNetLite0 EfficientNetLite1 EfficientNetLite2]

Uses a trained project's split (`--project`, as `dvc repro` left it: data/03_primary/split.parquet
and the clean images). For each backbone, at its native resolution (224, 240, 260 px; the clean
images are resized to it in the tf.data input), extracts the pooled features of `--train-images`
photos of the train split (seeded sample) and their mirror images, fits a logistic regression on
them (scikit-learn, standardised features) and scores the whole test split: accuracy, log loss,
and milliseconds per image for the train photos' features (reading and resizing included), with
the train and audit stages' own extraction (core/features.py). The frozen-feature head is
what `train.transfer.freeze_backbone: true` trains, so this ranks the backbones for that recipe
without a full training run each. Writes benchmarks/results/bench_backbones.json.
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

NATIVE_SIZE = {"EfficientNetLite0": 224, "EfficientNetLite1": 240, "EfficientNetLite2": 260}


def resized(images, size: int):
    """The (uint8 image, label) batches with the images resized to `size` x `size`."""
    import tensorflow as tf

    def resize(batch: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        pixels = tf.image.resize(tf.cast(batch, tf.float32), (size, size))
        return tf.cast(tf.round(pixels), tf.uint8), labels

    return images.map(resize)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--train-images", type=int, default=3000)
    parser.add_argument("--backbones", nargs="+", default=list(NATIVE_SIZE), choices=NATIVE_SIZE)
    args = parser.parse_args()
    manifest_path = args.project / "data/03_primary/split.parquet"
    if not manifest_path.is_file():
        raise SystemExit(f"{manifest_path} does not exist: run `dvc repro split` there first")
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, log_loss
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from catdog_pipeline.core import tf_input
    from catdog_pipeline.core.features import extract_features as extract
    from catdog_pipeline.core.features import pretrained_feature_extractor

    manifest = pd.read_parquet(manifest_path)
    folder = args.project / "data/02_intermediate/images"
    train_rows = manifest[manifest["split"] == "train"]
    train_rows = train_rows.sample(min(args.train_images, len(train_rows)), random_state=0)
    sample = pd.concat([train_rows, manifest[manifest["split"] == "test"]])
    params = yaml.safe_load((args.project / "params.yaml").read_text())
    clean_size = tuple(int(side) for side in params["image"]["size"])

    def dataset(split: str, size: int):
        images = tf_input.image_dataset(
            tf_input.image_files(sample, folder, split),
            tf_input.split_labels(sample, split),
            image_size=clean_size,
            batch_size=64,
        )
        return resized(images, size)

    train_labels = tf_input.split_labels(sample, "train")
    test_labels = tf_input.split_labels(sample, "test")
    results = {"benchmark": "bench_backbones", "machine": describe_machine()}
    results.update(project=str(args.project.resolve()), train_photos=len(train_labels))
    results.update(test_photos=len(test_labels), clean_image_size=list(clean_size))
    for name in args.backbones:
        size = NATIVE_SIZE[name]
        extractor = pretrained_feature_extractor((size, size), name, "package")
        started = time.perf_counter()
        train = extract(extractor, dataset("train", size), mirrored=False, description=name)
        milliseconds = 1000 * (time.perf_counter() - started) / len(train)
        mirrored = extract(extractor, dataset("train", size), mirrored=True, description=name)
        test = extract(extractor, dataset("test", size), mirrored=False, description=name)
        head = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
        head.fit(np.concatenate([train, mirrored]), np.concatenate([train_labels, train_labels]))
        p_dog = head.predict_proba(test)[:, 1]
        results[name] = {
            "size": size,
            "parameters": int(extractor.count_params()),
            "accuracy": round(float(accuracy_score(test_labels, p_dog >= 0.5)), 4),
            "log_loss": round(float(log_loss(test_labels, p_dog)), 4),
            "feature_ms_per_image": round(milliseconds, 1),
        }
        print(name, results[name], flush=True)
    save_results("bench_backbones", results)


if __name__ == "__main__":
    main()
