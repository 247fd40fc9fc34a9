"""The audit pipeline end to end with the real pretrained backbone, on 20 photos of the sample."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from tests.splits import CLASSES, write_clean_image

from catdog_pipeline.images import fit_to_size, open_rgb
from catdog_pipeline.pipelines.audit import create_pipeline
from catdog_pipeline.pipelines.audit.nodes import AUDIT_COLUMNS

SIZE = (96, 96)
PER_CLASS = 10


def sample_split(sample_zip, clean_images) -> pd.DataFrame:
    """The sample's first PER_CLASS cats and dogs as clean images of SIZE, all in train."""
    rows = []
    with zipfile.ZipFile(sample_zip) as archive:
        for index, label in enumerate(CLASSES):
            names = [n for n in archive.namelist() if f"/{label.title()}/" in n][:PER_CLASS]
            for name in names:
                photo = open_rgb(archive.read(name), max_pixels=40_000_000)
                pixels = np.asarray(fit_to_size(photo, SIZE, "pad"))
                image_path = write_clean_image(clean_images, pixels)
                rows.append((image_path, name, label, index, "train", len(rows)))
    columns = ["image_path", "original_path", "label", "label_index", "split", "group"]
    return pd.DataFrame(rows, columns=columns)


def test_the_audit_ranks_a_flipped_label_first_with_pretrained_features(
    tmp_path, sample_zip
) -> None:
    split_manifest = sample_split(sample_zip, tmp_path / "images")
    flipped = 0  # a cat, labelled dog
    split_manifest.loc[flipped, ["label", "label_index"]] = ["dog", 1]
    catalog = DataCatalog(
        {
            "split_manifest": MemoryDataset(split_manifest),
            "clean_images": MemoryDataset(tmp_path / "images", copy_mode="assign"),
            "params:image.size": MemoryDataset(list(SIZE)),
            "params:train.transfer.backbone": MemoryDataset("EfficientNetLite0"),
            "params:train.transfer.weights": MemoryDataset("package"),
            "params:classes": MemoryDataset(CLASSES),
            "params:audit.folds": MemoryDataset(3),
            "params:audit.seed": MemoryDataset(0),
            "label_audit": MemoryDataset(),
        }
    )

    SequentialRunner().run(create_pipeline(), catalog)

    audit: pd.DataFrame = catalog.load("label_audit")
    assert list(audit.columns) == AUDIT_COLUMNS
    assert sorted(audit["image_path"]) == sorted(split_manifest["image_path"])
    first = audit.iloc[0]
    assert first["original_path"] == split_manifest.loc[flipped, "original_path"]
    assert (first["label"], first["suggested_label"]) == ("dog", "cat")
    assert first["label_quality"] < 0.5 <= audit["label_quality"].iloc[1]
    assert audit["outlier_score"].between(0, 1).all()
