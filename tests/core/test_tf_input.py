"""The tf.data input reads the split manifest's layout: shapes, labels, pixels, errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from catdog_pipeline.core import tf_input as data


def test_batches_hold_the_split_images_as_uint8_with_their_labels(tiny_split) -> None:
    manifest, clean_images = tiny_split
    paths = data.image_files(manifest, clean_images, "val")
    labels = data.split_labels(manifest, "val")
    batches = list(data.image_dataset(paths, labels, image_size=(32, 32), batch_size=5))

    assert [images.shape[0] for images, _ in batches] == [5, 5, 5, 1]
    images = np.concatenate([images.numpy() for images, _ in batches])
    assert images.shape == (16, 32, 32, 3)
    assert images.dtype == np.uint8
    val_rows = manifest[manifest["split"] == "val"]
    assert (
        np.concatenate([y.numpy() for _, y in batches]).tolist()
        == val_rows["label_index"].astype(float).tolist()
    )
    # Decoded pixels are PIL's, as predict and serve see them.
    first = np.asarray(Image.open(clean_images / val_rows["image_path"].iloc[0]).convert("RGB"))
    np.testing.assert_array_equal(images[0], first)


def test_shuffling_reorders_every_epoch_but_keeps_every_image(tiny_split) -> None:
    manifest, clean_images = tiny_split
    paths = data.image_files(manifest, clean_images, "train")
    order = np.arange(len(paths), dtype=np.float32)  # the label stands for the file's position
    dataset = data.image_dataset(paths, order, image_size=(32, 32), batch_size=64, shuffle_seed=3)

    first, second = ([y for _, ys in dataset for y in ys.numpy()] for _ in range(2))

    assert sorted(first) == sorted(second) == order.tolist()
    assert first != second
    assert first != order.tolist()


def test_a_missing_image_is_named(tiny_split) -> None:
    manifest, clean_images = tiny_split
    missing = clean_images / manifest["image_path"].iloc[0]
    missing.unlink()

    with pytest.raises(FileNotFoundError, match=missing.name):
        data.image_files(manifest, clean_images, "train")


def test_an_image_of_another_size_fails_naming_image_size(tiny_split) -> None:
    manifest, clean_images = tiny_split
    paths = data.image_files(manifest, clean_images, "test")
    Image.new("RGB", (20, 32)).save(paths[0], format="JPEG")
    dataset = data.image_dataset(
        paths, data.split_labels(manifest, "test"), image_size=(32, 32), batch_size=4
    )

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image\.size"):
        list(dataset)
