"""Which test images the report shows, and how they are shrunk into embeddable thumbnails."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.images import open_rgb

THUMBNAIL_JPEG_QUALITY = 85


def probability_of_true_label(predictions: pd.DataFrame, positive_class: str) -> pd.Series:
    """P(true label) per row, from `probability` = P(positive class) and `label`."""
    probability = predictions["probability"].astype(float)
    return probability.where(predictions["label"] == positive_class, 1.0 - probability)


def most_confident(
    predictions: pd.DataFrame, count: int, positive_class: str, *, correct: bool
) -> pd.DataFrame:
    """The `count` most confidently wrong (or right) predictions, most confident first.

    Confidence in a wrong answer is how little probability the true label got; in a right one,
    how much. Ties keep the order of `predictions`, so the selection is reproducible.
    A `probability_of_truth` column is added.
    """
    if count < 0:
        raise InputError(f"report: the number of images to show must be >= 0, got {count}")
    chosen = predictions[predictions["correct"].astype(bool) == correct]
    truth = probability_of_true_label(chosen, positive_class).to_numpy()
    order = np.argsort(-truth if correct else truth, kind="stable")[:count]
    return chosen.iloc[order].assign(probability_of_truth=truth[order])


def thumbnail(path: Path, max_side: int, *, max_pixels: int) -> Image.Image:
    """Decode an image the project's one way and shrink it to fit in `max_side` pixels."""
    image = open_rgb(path, max_pixels=max_pixels)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def jpeg_data_uri(image: Image.Image | np.ndarray) -> str:
    """An RGB photo as a JPEG `data:` URI, so the page needs no files beside it."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMBNAIL_JPEG_QUALITY)
    return data_uri(buffer.getvalue(), "image/jpeg")


def data_uri(data: bytes, mime: str) -> str:
    """Encoded image bytes as a base64 `data:` URI."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
