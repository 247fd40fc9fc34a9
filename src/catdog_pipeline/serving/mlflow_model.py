"""The classifier as an MLflow pyfunc model: image bytes in, label and probability out.

`CatdogModel` sends every image through the same `Predictor` as `catdog predict` and the HTTP
service, so it is prepared with `catdog_pipeline.images.prepare_image` exactly as the model card
says. The evaluate stage logs it with the package as `code_paths` (see
`pipelines/evaluate/mlflow_model_dataset.py`), so `mlflow models serve -m models:/catdog/<n>`
needs no project checkout, and this module imports nothing of Kedro.
"""

import base64
import binascii
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from catdog_pipeline.core.errors import InputError
from catdog_pipeline.core.model_card import decide

SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("binary", "image")]),
    outputs=Schema([ColSpec("string", "label"), ColSpec("double", "probability")]),
)


class CatdogModel(mlflow.pyfunc.PythonModel):
    """Images in an `image` column -> the predicted `label` and its `probability`, one per row.

    A cell holds the file's raw bytes or the same bytes base64-encoded as text (MLflow's JSON
    scoring protocol decodes base64 for binary columns before `predict` sees it).
    `probability` is the model's confidence in `label`, as the HTTP service reports it.
    """

    # No `from __future__ import annotations` here: MLflow reads predict's type hints at class
    # creation and warns when they are strings.

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        from catdog_pipeline.serving.predictor import load_predictor

        # The card is logged beside the .keras file, where load_predictor looks for it.
        self._predictor = load_predictor(context.artifacts["keras_model"])

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        if "image" not in model_input.columns:
            raise InputError(
                f"The input needs an `image` column of image bytes or base64 text; "
                f"got columns {list(model_input.columns)}"
            )
        images = [self._prepare(row, cell) for row, cell in enumerate(model_input["image"])]
        batch = np.stack(images) if images else np.empty((0,))
        p_positive = np.asarray(self._predictor.positive_probabilities(batch), dtype=float)
        labels, probabilities = decide(p_positive, self._predictor.card.classes, self.threshold)
        return pd.DataFrame({"label": labels, "probability": probabilities})

    def _prepare(self, row: int, cell: Any) -> np.ndarray:
        try:
            return self._predictor.prepare(image_bytes(cell))
        except ValueError as exc:  # UnusableImage is one: it names why the image was refused
            raise InputError(f"image row {row}: {exc}") from exc


def image_bytes(cell: Any) -> bytes:
    """A cell of the `image` column as bytes: raw bytes as they are, text decoded from base64."""
    if isinstance(cell, bytes | bytearray | memoryview):
        return bytes(cell)
    if isinstance(cell, str):
        try:
            return base64.b64decode(cell, validate=True)
        except binascii.Error as exc:
            raise InputError(f"text that is not valid base64 ({exc})") from exc
    raise InputError(f"expected image bytes or base64 text, got {type(cell).__name__}")
