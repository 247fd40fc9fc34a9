"""The catalog's `mlflow_model`: logs the evaluated model to the MLflow run and registers it.

kedro-mlflow's MlflowModelTrackingDataset takes `log_model` arguments from the catalog only, so
it cannot attach what depends on the trained model: a signature and input example of its input
shape, and the .keras file and model card as the pyfunc's artifacts. This dataset does.
MLflow is imported on save only: every `kedro run` instantiates the catalog's datasets.
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

import catdog_pipeline

logger = logging.getLogger(__name__)

PYFUNC_NAME = "model"
KERAS_NAME = "keras_model"
# Pinned to the versions that trained the model, so MLflow does not infer them (it would start
# a Python that imports TensorFlow just to list imports).
REQUIREMENT_DISTRIBUTIONS = ("mlflow", "keras", "tensorflow-cpu", "numpy", "pandas", "pillow")


class MlflowCatdogModelDataset(AbstractDataset[dict[str, Any], None]):
    """Write-only: logs the trained model to the active MLflow run, in two forms.

    - `keras_model`: the Keras flavour, with a uint8 tensor signature and an input example;
    - `model`: the `CatdogModel` pyfunc (serving/mlflow_model.py), registered as
      `registered_model_name`, the new version tagged with the test metrics.

    Saved data: {"model": keras.Model, "model_card": dict, "threshold": float,
    "test_metrics": dict}. The class name starts with `Mlflow` so that kedro-mlflow switches it
    off, as it does its own datasets, in pipelines whose tracking is disabled.
    """

    def __init__(
        self, registered_model_name: str = "catdog", metadata: dict[str, Any] | None = None
    ) -> None:
        self._registered_model_name = registered_model_name
        self._logging_activated = True
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        raise DatasetError(
            "mlflow_model is write-only: load the registered model with "
            f"mlflow.pyfunc.load_model('models:/{self._registered_model_name}/<version>')."
        )

    def save(self, data: dict[str, Any]) -> None:
        import mlflow

        if not self._logging_activated:
            return
        if mlflow.active_run() is None:
            logger.warning("No active MLflow run: the model is neither logged nor registered.")
            return
        model = data["model"]
        requirements = pip_requirements()
        # What mlflow.keras.log_model does, through a flavour that can take an input example.
        mlflow.models.Model.log(
            artifact_path=None,  # deprecated in favour of `name`, yet still required
            name=KERAS_NAME,
            flavor=_KerasFlavor,
            flavor_name="mlflow.keras",
            model=model,
            signature=keras_signature(tuple(model.input_shape)),
            input_example=np.full((1, *model.input_shape[1:]), 128, dtype=np.uint8),
            pip_requirements=requirements,
        )
        version_number = self._log_pyfunc(data, requirements)
        self._tag_version(version_number, data.get("test_metrics") or {})

    def _log_pyfunc(self, data: Mapping[str, Any], requirements: list[str]) -> str | None:
        import mlflow
        import pandas as pd

        from catdog_pipeline.serving.mlflow_model import SIGNATURE, CatdogModel

        with tempfile.TemporaryDirectory(prefix="catdog-mlflow-") as folder:
            info = mlflow.pyfunc.log_model(
                name=PYFUNC_NAME,
                python_model=CatdogModel(threshold=float(data["threshold"])),
                artifacts=write_model_files(Path(folder), data["model"], data["model_card"]),
                # The whole package travels with the model: the pickled CatdogModel imports it.
                code_paths=[str(Path(catdog_pipeline.__file__).parent)],
                signature=SIGNATURE,
                input_example=pd.DataFrame({"image": [example_jpeg()]}),
                pip_requirements=requirements,
                registered_model_name=self._registered_model_name,
            )
        version_number = info.registered_model_version
        return None if version_number is None else str(version_number)

    def _tag_version(self, version_number: str | None, test_metrics: Mapping[str, Any]) -> None:
        import mlflow

        if version_number is None:
            return
        client = mlflow.MlflowClient()
        for name, value in test_metrics.items():
            if value is not None:
                client.set_model_version_tag(
                    self._registered_model_name, version_number, f"test.{name}", str(value)
                )
        logger.info("Registered model %s version %s", self._registered_model_name, version_number)

    def _exists(self) -> bool:
        return False

    def _describe(self) -> dict[str, Any]:
        return {"registered_model_name": self._registered_model_name}


class _KerasFlavor:
    """`mlflow.keras` for `Model.log`, creating the model folder before it writes into it.

    mlflow.keras.save_model writes the input example before it creates the folder, so
    mlflow.keras.log_model fails with any input example (mlflow/mlflow#16183, open in 3.17).
    """

    @staticmethod
    def save_model(path: str, **kwargs: Any) -> None:
        import mlflow

        os.makedirs(path, exist_ok=True)
        mlflow.keras.save_model(path=path, **kwargs)


def keras_signature(input_shape: Sequence[int | None]) -> Any:
    """uint8 images of the model's input shape -> one float32 P(class index 1) per image."""
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype("uint8"), (-1, *input_shape[1:]), "image")]),
        outputs=Schema([TensorSpec(np.dtype("float32"), (-1, 1), "probability")]),
    )


def example_jpeg(size: tuple[int, int] = (32, 32)) -> bytes:
    """A small grey JPEG, the pyfunc's input example (any size: the model card resizes it)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (128, 128, 128)).save(buffer, format="JPEG")
    return buffer.getvalue()


def pip_requirements() -> list[str]:
    """The installed versions of what the model needs to load and predict."""
    pinned = []
    for distribution in REQUIREMENT_DISTRIBUTIONS:
        try:
            pinned.append(f"{distribution}=={version(distribution)}")
        except PackageNotFoundError:
            continue  # e.g. `tensorflow` installed instead of `tensorflow-cpu`
    return pinned


def write_model_files(folder: Path, model: Any, model_card: Mapping[str, Any]) -> dict[str, str]:
    """The .keras file and model_card.json side by side, as the pyfunc's artifacts."""
    model_path = folder / "model.keras"
    model.save(model_path)
    card_path = folder / "model_card.json"
    card_path.write_text(json.dumps(dict(model_card), indent=2, sort_keys=True))
    return {"keras_model": str(model_path), "model_card": str(card_path)}
