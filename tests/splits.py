"""Tiny clean-image splits for the tests: 32x32 JPEGs in the clean_images layout + manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from catdog_pipeline.datasets import ShardedImageFolderDataset
from catdog_pipeline.images import encode_jpeg

SIZE = (32, 32)
CLASSES = {"cat": ["cat"], "dog": ["dog"]}


def write_clean_image(clean_images: Path, pixels: np.ndarray) -> str:
    """Store `pixels` as the clean stage does (<sha[:2]>/<sha>.jpg); return the relative path."""
    sha = hashlib.sha256(pixels.tobytes()).hexdigest()
    relative = f"{sha[:2]}/{sha}.jpg"
    (clean_images / sha[:2]).mkdir(parents=True, exist_ok=True)
    (clean_images / relative).write_bytes(encode_jpeg(Image.fromarray(pixels), quality=95))
    return relative


def make_split(
    root: Path, counts: dict[str, int], *, seed: int = 0, random_labels: bool = False
) -> tuple[pd.DataFrame, Path]:
    """Images under root/images and their split manifest, `counts` = {split: images per class}.

    Cats are dark and dogs bright, so a tiny network learns them in a few epochs; with
    `random_labels` the label has nothing to do with the picture (a network can only overfit).
    """
    rng = np.random.default_rng(seed)
    clean_images = root / "images"
    rows = []
    for split, per_class in counts.items():
        for label_index, label in enumerate(CLASSES):
            for _ in range(per_class):
                base = 60 + 120 * label_index if not random_labels else 120
                pixels = np.clip(rng.normal(base, 40, (*SIZE, 3)), 0, 255).astype(np.uint8)
                shown = int(rng.integers(2)) if random_labels else label_index
                rows.append(
                    {
                        "image_path": write_clean_image(clean_images, pixels),
                        "original_path": f"PetImages/{label}/{len(rows)}.jpg",
                        "label": list(CLASSES)[shown],
                        "label_index": shown,
                        "split": split,
                        "group": len(rows),
                    }
                )
    return pd.DataFrame(rows), clean_images


def clean_images_dataset(project: Path) -> ShardedImageFolderDataset:
    """`project`'s clean_images dataset, as its catalog defines it, with paths under `project`."""
    config = yaml.safe_load((project / "conf/base/catalog.yml").read_text())["clean_images"]
    return ShardedImageFolderDataset(
        path=str(project / config["path"]),
        unpacked=str(project / config["unpacked"]),
        shard_mib=config["shard_mib"],
    )


def install_clean_images(project: Path, folder: Path) -> None:
    """Save `folder` as `project`'s clean_images (shards and unpacked folder), as clean does."""
    clean_images_dataset(project).save(folder)
