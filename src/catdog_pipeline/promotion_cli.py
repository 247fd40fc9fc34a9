"""`catdog promote` and `catdog gate-set`: champion/challenger by hand (cli.py adds them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click

from catdog_pipeline.catalog_paths import dataset_path
from catdog_pipeline.core.errors import MissingFileError

project_option = click.option(
    "--project",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The project folder.",
)


@click.command(name="gate-set")
@project_option
@click.option("--extend", is_flag=True, help="Add the current test images not in it yet.")
@click.option("--replace", is_flag=True, help="Start over from the current test split.")
def gate_set(project: Path, extend: bool, replace: bool) -> None:
    """Freeze the test split's images as the gate set every promotion is judged on.

    The first run writes the catalog's `gate_set` (data/05_model_input/gate_set.csv; commit
    it); after that it changes only on purpose: --extend or --replace.
    """
    import pandas as pd

    from catdog_pipeline.pipelines.promote.gate import freeze_gate_set

    if extend and replace:
        raise click.UsageError("--extend or --replace, not both")
    split_path, gate_path = _path("split_manifest", project), _path("gate_set", project)
    if not split_path.is_file():
        raise click.ClickException(f"No {split_path}: run the split stage first.")
    existing = pd.read_csv(gate_path) if gate_path.is_file() and not replace else None
    if existing is not None and not extend:
        raise click.ClickException(
            f"{gate_path} holds {len(existing)} images already: it changes only on purpose "
            "(--extend adds the current test images, --replace starts over)."
        )
    frozen = freeze_gate_set(pd.read_parquet(split_path), existing)
    gate_path.parent.mkdir(parents=True, exist_ok=True)
    frozen.to_csv(gate_path, index=False)
    added = len(frozen) - (0 if existing is None else len(existing))
    click.echo(f"{gate_path}: {len(frozen)} images ({added} added). Commit it.")


@click.command()
@project_option
@click.option("--history", is_flag=True, help="List the champion's moves instead, and exit.")
def promote(project: Path, history: bool) -> None:
    """Judge the newest model against catdog@champion on the gate set (the promote stage).

    Runs `kedro run --pipeline promote` (the store is MLFLOW_TRACKING_URI, or mlflow.db), then
    prints the decision from the catalog's `promotion` (reports/promotion.json).
    """
    if history:
        _print_history()
        return
    record_path = _path("promotion", project)
    command = [sys.executable, "-m", "kedro", "run", "--pipeline", "promote"]
    done = subprocess.run(command, cwd=project, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode != 0:
        raise click.ClickException("the promote pipeline failed (its log is above)")
    record = json.loads(record_path.read_text())
    champion = record["champion"]
    click.echo(
        f"{record['decision']}: challenger v{record['challenger']['version']}"
        + (f" vs champion v{champion['version']}" if champion else "")
        + f" - {record['reason']}"
    )


def _path(dataset: str, project: Path) -> Path:
    try:
        return dataset_path(dataset, project)
    except MissingFileError as error:
        raise click.ClickException(str(error)) from None


def _print_history() -> None:
    import mlflow

    from catdog_pipeline.pipelines.promote.registry import alias_history
    from catdog_pipeline.serving.champion import REGISTERED_MODEL, tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    from mlflow.exceptions import MlflowException

    try:
        moves = alias_history(mlflow.MlflowClient(), REGISTERED_MODEL)
    except MlflowException as exc:
        raise click.ClickException(f"No model {REGISTERED_MODEL}: {exc.message}") from None
    for move in moves:
        click.echo(f"{move['since']}  v{move['version']}  ({move['decision']}: {move['reason']})")
