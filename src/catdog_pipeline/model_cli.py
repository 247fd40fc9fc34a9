"""What `catdog predict` and `catdog serve` share: the --model and --params options, and loading."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from catdog_pipeline.catalog_paths import dataset_path
from catdog_pipeline.core.errors import CatdogError
from catdog_pipeline.core.params_schema import ParamsError, validate_sections

if TYPE_CHECKING:
    from catdog_pipeline.serving.champion import ServedModel

DEFAULT_PARAMS = "params.yaml"

model_option = click.option(
    "--model",
    default=None,
    help="A .keras file with model_card.json beside it, or an MLflow model URI "
    "(models:/catdog@champion, models:/catdog/3, runs:/<run id>/model; the store comes "
    "from MLFLOW_TRACKING_URI, else ./mlflow.db).  [default: models:/catdog@champion when "
    "the registry has that alias, else the train stage's file (the catalog's `model`)]",
)
params_option = click.option(
    "--params",
    "params_path",
    default=DEFAULT_PARAMS,
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The project's params.yaml: `serve` holds the limits and batch size, "
    "`evaluate.threshold` the decision threshold.",
)


def read_params(params_path: Path) -> dict[str, Any]:
    """params.yaml, checked for what predict and serve read: `serve` and `evaluate.threshold`."""
    if not params_path.is_file():
        raise click.ClickException(
            f"{params_path} not found: run catdog from the project's root or pass --params."
        )
    params = yaml.safe_load(params_path.read_text()) or {}
    try:
        validate_sections(params, ("serve", "evaluate"))
    except ParamsError as error:
        raise click.ClickException(f"{params_path}: {error}") from None
    return params


def load_served_model(
    model: str | None, params: dict[str, Any], poll_seconds: float = 0
) -> ServedModel:
    """`--model`, or the champion if the registry has one, or the train stage's file."""
    # TensorFlow's C++ start-up chatter would otherwise mix into the terminal output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # ...and so would its Python notices (e.g. tf.function tracing advice): only errors pass.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from catdog_pipeline.serving.champion import default_model, served_model

    try:
        # The evaluate stage's decision threshold, so labels agree with the reported metrics.
        threshold = float(params["evaluate"]["threshold"])
        model = model or default_model(str(dataset_path("model")))
        return served_model(model, threshold, poll_seconds)
    except (CatdogError, ValueError) as exc:  # ModelLoadError is a CatdogError
        raise click.ClickException(str(exc)) from exc
