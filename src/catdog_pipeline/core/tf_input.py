"""tf.data input: stream the clean JPEGs of one split, decoded in parallel, batched, prefetched.

Only file names and labels are held in memory; images are read and decoded batch by batch.
Decoding uses TensorFlow's INTEGER_ACCURATE DCT, which gives the same pixels as PIL (see
docs/data-contracts.md), so training sees exactly what predict and serve see.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from catdog_pipeline.core.errors import MissingFileError


def image_files(split_manifest: pd.DataFrame, clean_images: Path, split: str) -> list[str]:
    """Full paths of the `split` rows' images; FileNotFoundError names any that is missing."""
    rows = split_manifest[split_manifest["split"] == split]
    paths = [str(Path(clean_images) / image_path) for image_path in rows["image_path"]]
    missing = [path for path in paths if not Path(path).is_file()]
    if missing:
        raise MissingFileError(
            f"{len(missing)} image(s) of split '{split}' listed in split_manifest are not under "
            f"'{clean_images}', e.g. '{missing[0]}'. Re-run the clean and split stages "
            "(`dvc repro split`) so the manifest and the image folder match."
        )
    return paths


def split_labels(split_manifest: pd.DataFrame, split: str) -> np.ndarray:
    """The `label_index` of the `split` rows, as float32 targets for a sigmoid output."""
    rows = split_manifest[split_manifest["split"] == split]
    return rows["label_index"].to_numpy(dtype=np.float32)


def image_dataset(
    paths: Sequence[str],
    labels: np.ndarray,
    *,
    image_size: Sequence[int],
    batch_size: int,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """Batches of (uint8 images of `image_size`, float32 labels); shuffled each epoch if seeded.

    The shuffle is over file names (cheap, so the buffer holds the whole split), not images.
    """
    height, width = (int(side) for side in image_size)
    dataset = tf.data.Dataset.from_tensor_slices((list(paths), labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(paths), seed=shuffle_seed, reshuffle_each_iteration=True)

    def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3, dct_method="INTEGER_ACCURATE")
        right_size = tf.reduce_all(tf.shape(image)[:2] == [height, width])
        message = f"A clean image is not image.size={[height, width]}: re-run the clean stage."
        with tf.control_dependencies([tf.debugging.Assert(right_size, [message, path])]):
            return tf.ensure_shape(image, (height, width, 3)), label

    return (
        dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def split_dataset(
    split_manifest: pd.DataFrame,
    clean_images: Path,
    split: str,
    *,
    image_size: Sequence[int],
    batch_size: int,
    shuffle_seed: int | None = None,
) -> tuple[tf.data.Dataset, np.ndarray]:
    """`image_dataset` of one split of the manifest, and that split's labels."""
    labels = split_labels(split_manifest, split)
    paths = image_files(split_manifest, clean_images, split)
    dataset = image_dataset(
        paths, labels, image_size=image_size, batch_size=batch_size, shuffle_seed=shuffle_seed
    )
    return dataset, labels
