"""The `catdog` command group without a model: commands, inputs, output formats, params errors.

`catdog predict` and `catdog serve` with a model are tested in tests/serving/.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tests.catalog import copy_catalog

from catdog_pipeline.cli import cli
from catdog_pipeline.predict_cli import expand_paths, output_columns, write_rows
from catdog_pipeline.serving.predictor import Prediction

PROJECT_PARAMS = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
SERVE = PROJECT_PARAMS["serve"]
EVALUATE = PROJECT_PARAMS["evaluate"]


def _params(tmp_path: Path, **sections) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(sections))
    return path


def test_help_lists_predict_and_serve():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "predict" in result.output
    assert "serve" in result.output
    assert "--format [table|csv|json]" in CliRunner().invoke(cli, ["predict", "-h"]).output


def test_importing_the_cli_loads_no_heavy_library():
    """Kedro imports this module on every `kedro` command; it must stay light."""
    probe = (
        "import sys, catdog_pipeline.cli; "
        "print([m for m in ('tensorflow', 'keras', 'mlflow', 'uvicorn', 'fastapi') "
        "if m in sys.modules])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_kedro_still_finds_its_run_command_here():
    """`python -m catdog_pipeline` asks `<package>.cli` for `run` once that module exists."""
    from kedro.framework.cli.project import run
    from kedro.framework.cli.utils import find_run_command

    assert find_run_command("catdog_pipeline") is run


def test_folders_globs_and_files_expand_in_order_without_repeats(tmp_path: Path):
    for name in ("a/1.jpg", "a/deep/2.JPEG", "a/notes.txt", "b/3.png", "b/4.webp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = list(
        expand_paths(
            [
                str(tmp_path / "a"),
                str(tmp_path / "b" / "*.png"),
                str(tmp_path / "a" / "1.jpg"),
                str(tmp_path / "a" / "notes.txt"),
                str(tmp_path / "missing.jpg"),
            ]
        )
    )
    relative = [str(path.relative_to(tmp_path)) for path in found]
    assert relative == ["a/1.jpg", "a/deep/2.JPEG", "b/3.png", "a/notes.txt", "missing.jpg"]


ROWS = [
    Prediction("rex.jpg", "dog", 0.9, 0.9),
    Prediction("tom.jpg", "cat", 0.75, 0.25),
    Prediction("bad.jpg", error="truncated: decoding failed"),
]


@pytest.mark.parametrize("output_format", ["table", "csv", "json"])
def test_every_format_counts_labelled_rows_and_shows_the_error(output_format):
    from catdog_pipeline.predict_cli import prediction_row

    columns = output_columns("dog")
    out = io.StringIO()
    classified = write_rows((prediction_row(p, columns) for p in ROWS), columns, output_format, out)
    assert classified == 2
    text = out.getvalue()
    assert "truncated: decoding failed" in text
    if output_format == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[1] == {
            "path": "tom.jpg",
            "label": "cat",
            "probability": "0.75",
            "p_dog": "0.25",
            "error": "",
        }
    elif output_format == "json":
        assert json.loads(text)[0] == {
            "path": "rex.jpg",
            "label": "dog",
            "probability": 0.9,
            "p_dog": 0.9,
            "error": None,
        }
    else:
        lines = text.splitlines()
        assert lines[1].split() == ["dog", "0.9000", "0.9000", "rex.jpg"]
        assert lines[3].startswith("-")


def test_missing_params_file_says_where_to_run(tmp_path: Path):
    result = CliRunner().invoke(
        cli, ["predict", "x.jpg", "--params", str(tmp_path / "params.yaml")]
    )
    assert result.exit_code == 1
    assert "run catdog from the project's root or pass --params" in result.output


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"evaluate": EVALUATE}, "serve is missing"),
        ({"serve": SERVE}, "evaluate is missing"),
        (
            {"serve": {**SERVE, "max_files": 0}, "evaluate": EVALUATE},
            "serve.max_files = 0: Input should be greater than or equal to 1",
        ),
        (
            {"serve": {**SERVE, "formats": ["HEIC"]}, "evaluate": EVALUATE},
            "serve.formats[0] = 'HEIC': Input should be",
        ),
        (
            {"serve": SERVE, "evaluate": {**EVALUATE, "threshold": 1.5}},
            "evaluate.threshold = 1.5: Input should be less than 1",
        ),
    ],
)
def test_serve_refuses_bad_params_naming_the_key(tmp_path: Path, sections, message):
    params = _params(tmp_path, **sections)
    result = CliRunner().invoke(cli, ["serve", "--params", str(params), "--model", "none"])
    assert result.exit_code == 1
    assert message in result.output


def test_summary_gives_the_test_figures_and_where_to_look(tmp_path, make_image) -> None:
    """...wherever the catalog keeps them (here every dataset is moved under `moved/`)."""
    copy_catalog(tmp_path, moved_under="moved")
    metrics = tmp_path / "moved/reports/metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps({"accuracy": 0.98765, "log_loss": 0.04321, "n_images": 60}))
    (tmp_path / "moved/data/06_models").mkdir(parents=True)
    card = {"architecture": "transfer", "pretrained": {"backbone": "EfficientNetLite0"}}
    (tmp_path / "moved/data/06_models/model_card.json").write_text(json.dumps(card))
    make_image(tmp_path / "moved/data/01_raw/images/PetImages/Cat/7.jpg")

    result = CliRunner().invoke(cli, ["summary", "--project", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert (
        "transfer (EfficientNetLite0): test accuracy 0.988, log loss 0.043 on 60" in result.output
    )
    assert "catdog predict moved/data/01_raw/images/PetImages/Cat/7.jpg" in result.output
    for command in ("mlflow ui", "catdog serve", "kedro viz run", "moved/reports/report.html"):
        assert command in result.output


def test_summary_before_any_run_says_what_to_run(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["summary", "--project", str(copy_catalog(tmp_path))])

    assert result.exit_code == 0
    assert "No evaluated model yet" in result.output and "make run" in result.output


def test_summary_outside_a_project_says_where_to_run_it(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["summary", "--project", str(tmp_path)])

    assert result.exit_code == 1
    assert "run this from the project's root" in result.output
