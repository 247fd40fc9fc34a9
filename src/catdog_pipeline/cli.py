"""The `catdog` command: `catdog predict PATH...` and `catdog serve`.

Kedro also reads this module (as `<package>.cli`): it adds the `cli` group's commands to
`kedro` and takes `run` from here for `python -m catdog_pipeline`. Heavy libraries
(TensorFlow, MLflow, uvicorn) are imported inside the commands, so `kedro` stays fast.
"""

from __future__ import annotations

import csv
import glob
import json
import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from catdog_pipeline import __version__
from catdog_pipeline.core.params_schema import ParamsError, validate_sections

if TYPE_CHECKING:
    from catdog_pipeline.serving.champion import ServedModel
    from catdog_pipeline.serving.predictor import Prediction

# The train stage's output: the catalog's `model` (conf/base/catalog_train.yml).
DEFAULT_MODEL = "data/06_models/model.keras"
DEFAULT_PARAMS = "params.yaml"

model_option = click.option(
    "--model",
    default=None,
    help="A .keras file with model_card.json beside it, or an MLflow model URI "
    "(models:/catdog@champion, models:/catdog/3, runs:/<run id>/model; the store comes "
    "from MLFLOW_TRACKING_URI, else ./mlflow.db).  [default: models:/catdog@champion when "
    f"the registry has that alias, else {DEFAULT_MODEL}]",
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


@click.group(name="catdog", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="catdog")
def cli() -> None:
    """catdog-pipeline: classify photos as cat or dog, and serve the model."""


def main() -> None:
    """Entry point of the `catdog` console script."""
    cli(prog_name="catdog")


def __getattr__(name: str) -> Any:
    # Kedro's find_run_command (python -m catdog_pipeline) looks up `run` in this module; it is
    # imported only then because importing Kedro's project CLI takes over a second.
    if name == "run":
        from kedro.framework.cli.project import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@model_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="table for people; csv or json (full-precision probabilities) for programs.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Images per model call.  [default: params.yaml serve.batch_size]",
)
@params_option
def predict(
    paths: tuple[str, ...],
    model: str,
    output_format: str,
    batch_size: int | None,
    params_path: Path,
) -> None:
    """Label each image in PATHS (files, folders, or quoted globs such as 'pets/**/*.jpg').

    One row per image: label, the probability of that label and of the positive class. A file
    that cannot be read gets its own row with the reason in `error`; it does not stop the
    others. Exits with status 1 only when no image could be classified.
    """
    params = read_params(params_path)
    files = list(expand_paths(paths))
    if not files:
        raise click.ClickException(f"No image files found in {' '.join(paths)}")
    predictor = _load(model, params).predictor
    batch_size = batch_size or params["serve"]["batch_size"]
    columns = output_columns(predictor.card.positive_class)
    rows = (prediction_row(p, columns) for p in predictor.classify_files(files, batch_size))
    try:
        classified = write_rows(rows, columns, output_format, sys.stdout)
    except BrokenPipeError:  # `catdog predict ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    failed = len(files) - classified
    click.echo(f"{classified} classified, {failed} could not be read.", err=True)
    if classified == 0:
        sys.exit(1)


@cli.command()
@click.option(
    "--project",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
)
def summary(project: Path) -> None:
    """The current model's test figures, and the commands to explore it."""
    from catdog_pipeline.summary import run_summary

    click.echo(run_summary(project))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@model_option
@params_option
def serve(host: str, port: int, model: str, params_path: Path) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, an upload page at /, docs at /docs.

    The limits (body size, pixels, formats, files per request), the monitoring (GET /metrics,
    drift window) and the capture of uncertain uploads come from params.yaml's `serve`.
    """
    import uvicorn

    from catdog_pipeline.serving.app import create_app
    from catdog_pipeline.serving.limits import ServeLimits
    from catdog_pipeline.serving.monitoring import monitor_from_params

    params = read_params(params_path)
    try:
        limits = ServeLimits.from_params(params["serve"])
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        served = _load(model, params, poll_seconds=float(params["serve"]["reload_seconds"]))
        card = served.predictor.card
        monitor = monitor_from_params(
            params["serve"], card.classes, card.positive_class, served.predictor.description
        )
    except KeyError as exc:
        raise click.ClickException(f"params.yaml serve has no {exc}") from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    app = create_app(served, limits, monitor)
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=5)


@cli.command()
@click.option(
    "--project",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The project folder holding dvc.yaml and conf/.",
)
def check(project: Path) -> None:
    """Check that dvc.yaml's stages agree with the Kedro pipelines, parameters and catalog."""
    from catdog_pipeline.consistency import project_mismatches

    problems = project_mismatches(project.resolve())
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} disagreement(s) between dvc.yaml and Kedro")
    click.echo("dvc.yaml and the Kedro pipelines agree.")


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


def _load(model: str | None, params: dict[str, Any], poll_seconds: float = 0) -> ServedModel:
    """`--model`, or the champion if the registry has one, or the train stage's file."""
    # TensorFlow's C++ start-up chatter would otherwise mix into the terminal output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # ...and so would its Python notices (e.g. tf.function tracing advice): only errors pass.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from catdog_pipeline.serving.champion import default_model, served_model
    from catdog_pipeline.serving.predictor import ModelLoadError

    try:
        # The evaluate stage's decision threshold, so labels agree with the reported metrics.
        threshold = float(params["evaluate"]["threshold"])
        return served_model(model or default_model(DEFAULT_MODEL), threshold, poll_seconds)
    except (ModelLoadError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


def expand_paths(patterns: Iterable[str]) -> Iterator[Path]:
    """Files named, found in folders (recursively, image suffixes only) or matched by globs.

    A name that matches nothing is passed on as is, so it gets an error row of its own.
    """
    from catdog_pipeline.images import IMAGE_SUFFIXES

    seen: set[Path] = set()
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else []
        for name in matches or [pattern]:
            path = Path(name)
            found = (
                sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
                if path.is_dir()
                else [path]
            )
            for file in found:
                if file not in seen:
                    seen.add(file)
                    yield file


def output_columns(positive_class: str) -> list[str]:
    return ["path", "label", "probability", f"p_{positive_class}", "error"]


def prediction_row(prediction: Prediction, columns: Sequence[str]) -> dict[str, Any]:
    values = (
        prediction.source,
        prediction.label,
        prediction.probability,
        prediction.p_positive,
        prediction.error,
    )
    return dict(zip(columns, values, strict=True))


def write_rows(
    rows: Iterable[dict[str, Any]], columns: Sequence[str], output_format: str, out: Any
) -> int:
    """Write rows as they come (table, csv) or at the end (json); return how many have a label."""
    classified = 0
    if output_format == "json":
        collected = list(rows)
        classified = sum(row["label"] is not None for row in collected)
        json.dump(collected, out, indent=2)
        out.write("\n")
        return classified
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    if output_format == "csv":
        writer.writeheader()
    else:
        out.write(_table_line(["label", "probability", columns[3], "path"]))
    for row in rows:
        classified += row["label"] is not None
        if output_format == "csv":
            writer.writerow(row)
        else:
            out.write(_table_line(_table_cells(row, columns)))
        out.flush()
    return classified


def _table_cells(row: dict[str, Any], columns: Sequence[str]) -> list[str]:
    if row["label"] is None:
        return ["-", "-", "-", f"{row['path']}  ({row['error']})"]
    return [row["label"], f"{row['probability']:.4f}", f"{row[columns[3]]:.4f}", row["path"]]


def _table_line(cells: Sequence[str]) -> str:
    return f"{cells[0]:<8} {cells[1]:>11} {cells[2]:>11}  {cells[3]}\n"


# `catdog promote` and `catdog gate-set` live in their own module (cli.py stays short).
from catdog_pipeline.promotion_cli import gate_set, promote  # noqa: E402

cli.add_command(gate_set)
cli.add_command(promote)
