"""`catdog predict PATH...`: label image files in the terminal (cli.py adds it)."""

from __future__ import annotations

import csv
import glob
import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from catdog_pipeline.model_cli import load_served_model, model_option, params_option, read_params

if TYPE_CHECKING:
    from catdog_pipeline.serving.predictor import Prediction


@click.command()
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
    predictor = load_served_model(model, params).predictor
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
