"""The `catdog` command group: predict, serve, summary, check, promote, gate-set.

Kedro also reads this module (as `<package>.cli`): it adds the `cli` group's commands to
`kedro` and takes `run` from here for `python -m catdog_pipeline`. Each larger command lives in
its own `*_cli.py` module and is added below. Heavy libraries (TensorFlow, MLflow, uvicorn) are
imported inside the commands, so `kedro` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from catdog_pipeline import __version__
from catdog_pipeline.predict_cli import predict
from catdog_pipeline.promotion_cli import gate_set, promote
from catdog_pipeline.review_cli import review
from catdog_pipeline.serve_cli import serve


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
@click.option(
    "--project",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
)
def summary(project: Path) -> None:
    """The current model's test figures, and the commands to explore it."""
    from catdog_pipeline.core.errors import MissingFileError
    from catdog_pipeline.summary import run_summary

    try:
        click.echo(run_summary(project))
    except MissingFileError as error:  # no conf/ there
        raise click.ClickException(str(error)) from None


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


cli.add_command(predict)
cli.add_command(serve)
cli.add_command(gate_set)
cli.add_command(promote)
cli.add_command(review)
