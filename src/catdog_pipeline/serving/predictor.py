"""The trained classifier with its model card: image files or bytes in, labelled predictions out.

`catdog predict` and the HTTP service both go through `Predictor`, and it prepares every image
with `catdog_pipeline.images.prepare_image`, the function the clean stage uses, so a photo gets
the same pixels, and so the same probability, everywhere.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.inference import probability_function
from catdog_pipeline.core.model_card import MODEL_CARD_NAME, ModelCard, ModelLoadError
from catdog_pipeline.images import UnusableImage, prepare_image

# MLflow model URIs; anything else is a path on disk.
MLFLOW_SCHEMES = ("models:/", "runs:/")


@dataclass(frozen=True)
class Prediction:
    """One image's result: a label with its confidence, or the reason it could not be read."""

    source: str
    label: str | None = None
    probability: float | None = None
    p_positive: float | None = None
    error: str | None = None


class Predictor:
    """A loaded Keras model and its card. Thread-safe: the service calls it from worker threads.

    `threshold` is the P(positive class) from which the positive label is reported: the
    evaluate stage's `evaluate.threshold`, so predictions match the reported metrics.
    """

    def __init__(
        self, model: Any, card: ModelCard, description: str, threshold: float = 0.5
    ) -> None:
        import tensorflow as tf

        if not 0.0 < threshold < 1.0:
            raise InputError(f"The decision threshold must be between 0 and 1, got {threshold}")

        expected = (None, *card.image_size, 3)
        actual = tuple(model.input_shape)
        if actual != expected:
            raise ModelLoadError(
                f"{description}: the model takes input {actual} but its card says image_size "
                f"{list(card.image_size)}, i.e. {expected}; retrain or fix {MODEL_CARD_NAME}."
            )
        self.model = model
        self.card = card
        self.description = description
        self.threshold = threshold
        # PIL warns about odd metadata of one input (dozens of lines for a broken EXIF block);
        # each file is classified or refused on its own, so keep the log quiet. Set once for
        # the process: catch_warnings() per file is not thread-safe, and images decode on threads.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        # One traced graph for every batch size: far faster than eager calls or model.predict.
        self._infer = tf.function(
            probability_function(model, card.test_time_augmentation),
            input_signature=[tf.TensorSpec(expected, tf.uint8)],
        )

    def prepare(self, source: bytes | Path, max_pixels: int | None = None) -> np.ndarray:
        """Decode and resize one image as the model's card says; raises UnusableImage.

        A file is checked before it is read (a regular file, no larger than an image within
        the pixel limit can be); an image with a side under the card's min_side is refused.
        """
        limit = (
            self.card.max_pixels if max_pixels is None else min(max_pixels, self.card.max_pixels)
        )
        return prepare_image(
            source,
            size=self.card.image_size,
            resize_mode=self.card.resize_mode,
            max_pixels=limit,
            min_side=self.card.min_side,
        )

    def positive_probabilities(self, batch: np.ndarray) -> list[float]:
        """P(positive class) for each image of a (n, height, width, 3) uint8 batch."""
        if len(batch) == 0:
            return []
        output = self._infer(batch).numpy()
        return [float(p) for p in output]

    def predict_arrays(self, sources: Sequence[str], batch: np.ndarray) -> list[Prediction]:
        """Label a batch of prepared images; `sources` names each one in the results."""
        results = []
        for source, p_positive in zip(sources, self.positive_probabilities(batch), strict=True):
            label, probability = self.card.label(p_positive, self.threshold)
            results.append(Prediction(source, label, probability, p_positive))
        return results

    def classify_files(self, paths: Sequence[Path], batch_size: int) -> Iterator[Prediction]:
        """Predict every file in order, `batch_size` images per model call.

        A file that cannot be read or decoded becomes a Prediction with `error` set; it never
        stops the others. The next batch is decoded on worker threads while the model runs.
        """
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        chunks = [paths[i : i + batch_size] for i in range(0, len(paths), batch_size)]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for chunk, prepared in _prefetched(chunks, pool, self._prepare_file):
                yield from self._predict_chunk(chunk, prepared)

    def _prepare_file(self, path: Path) -> np.ndarray | str:
        """The image's pixels, or a one-line reason why it cannot be used."""
        try:
            return self.prepare(path)
        except UnusableImage as unusable:
            return f"{unusable.reason}: {unusable.detail}"
        except OSError as exc:
            return f"unreadable: {exc.strerror or exc}"
        except Exception as exc:  # an odd file must never abort a batch of thousands
            return f"undecodable: {type(exc).__name__}: {exc}"

    def _predict_chunk(
        self, chunk: Sequence[Path], prepared: Sequence[np.ndarray | str]
    ) -> list[Prediction]:
        good = [i for i, item in enumerate(prepared) if isinstance(item, np.ndarray)]
        batch = np.stack([prepared[i] for i in good]) if good else np.empty((0,))
        labelled = iter(self.predict_arrays([str(chunk[i]) for i in good], batch))
        return [
            next(labelled) if isinstance(item, np.ndarray) else Prediction(str(path), error=item)
            for path, item in zip(chunk, prepared, strict=True)
        ]


def _prefetched(
    chunks: Sequence[Sequence[Path]],
    pool: ThreadPoolExecutor,
    prepare: Callable[[Path], np.ndarray | str],
) -> Iterator[tuple[Sequence[Path], list[np.ndarray | str]]]:
    """Yield (chunk, prepared items), submitting the next chunk before handing out this one."""
    ahead: list[Future] | None = None
    for index, chunk in enumerate(chunks):
        current = ahead if ahead is not None else [pool.submit(prepare, p) for p in chunk]
        following = chunks[index + 1] if index + 1 < len(chunks) else ()
        ahead = [pool.submit(prepare, p) for p in following]
        yield chunk, [future.result() for future in current]


def load_predictor(model_ref: str | Path, threshold: float = 0.5) -> Predictor:
    """Load a `.keras` file (with model_card.json beside it), a folder or an MLflow model URI.

    For an MLflow URI (`models:/catdog@champion`, `models:/catdog/3`, `runs:/<id>/model`) the
    logged model's files are downloaded and its .keras file and card used directly, so
    predictions go through the same preprocessing, batching and per-file error handling as a
    local file; the tracking server comes from MLFLOW_TRACKING_URI.
    """
    model_path, card_path = _locate_model_files(str(model_ref))
    return _load_keras(model_path, card_path, threshold)


def _locate_model_files(ref: str) -> tuple[Path, Path]:
    """The .keras file and its model_card.json for a path, a folder or an MLflow URI."""
    if ref.startswith(MLFLOW_SCHEMES):
        folder = _download_mlflow_model(ref)
    elif Path(ref).is_dir():
        folder = Path(ref)
    elif Path(ref).is_file():
        return Path(ref), Path(ref).with_name(MODEL_CARD_NAME)
    else:
        raise ModelLoadError(
            f"No model at '{ref}': train one first (`dvc repro train`), or pass --model with a "
            "`.keras` file or an MLflow URI such as models:/catdog@champion."
        )
    return _find_one(folder, "*.keras", ref), _find_one(folder, MODEL_CARD_NAME, ref)


def _load_keras(model_path: Path, card_path: Path, threshold: float) -> Predictor:
    import keras

    if not card_path.is_file():
        raise ModelLoadError(
            f"'{model_path}' has no {MODEL_CARD_NAME} beside it: the train stage writes one; "
            "without it the input size and class names are unknown."
        )
    try:
        card_data = json.loads(card_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Cannot read '{card_path}': {exc}") from exc
    card = ModelCard.from_dict(card_data, str(card_path))
    # Keras calls any file that is not a zip archive "File not found": say what is wrong.
    remedy = "re-create it (`dvc repro train`) or fetch it again (`dvc pull`)"
    if not zipfile.is_zipfile(model_path):
        raise ModelLoadError(
            f"'{model_path}' is not a Keras model: a .keras file is a zip archive and this one "
            f"({model_path.stat().st_size:,} bytes) is not, so it is damaged or truncated; "
            f"{remedy}."
        )
    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as exc:  # keras raises ValueError, OSError, zipfile and JSON errors...
        raise ModelLoadError(
            f"Cannot load Keras model '{model_path}' ({type(exc).__name__}: {exc}): the file "
            f"is damaged or was saved by an incompatible Keras; {remedy}."
        ) from exc
    return Predictor(model, card, str(model_path), threshold)


def _download_mlflow_model(uri: str) -> Path:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
    except MlflowException as exc:
        raise ModelLoadError(
            f"Cannot fetch '{uri}' from MLflow at {mlflow.get_tracking_uri()}: {exc.message} "
            "(set MLFLOW_TRACKING_URI to the tracking server or store that holds it)"
        ) from exc


def _find_one(folder: Path, pattern: str, ref: str) -> Path:
    matches = sorted(folder.rglob(pattern))
    if len(matches) != 1:
        raise ModelLoadError(
            f"'{ref}' should hold exactly one {pattern}, found {len(matches)} "
            f"({[str(m.relative_to(folder)) for m in matches]})"
        )
    return matches[0]
