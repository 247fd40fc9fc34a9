"""`catdog predict` with a tiny model: output formats, inputs, bad files and exit status."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from catdog_pipeline.cli import cli


@pytest.fixture
def photos(tmp_path: Path, photo) -> Path:
    """pets/ with two dogs (red), a cat (blue) in a subfolder, a broken file and a note."""
    folder = tmp_path / "pets"
    (folder / "inside").mkdir(parents=True)
    (folder / "rex.jpg").write_bytes(photo("red"))
    (folder / "fido.PNG").write_bytes(photo("red", (50, 36), fmt="PNG"))
    (folder / "inside" / "tom.jpg").write_bytes(photo("blue"))
    dog = photo("red", (200, 150))
    (folder / "broken.jpg").write_bytes(dog[: len(dog) // 2])
    (folder / "notes.txt").write_text("not a photo, and skipped when a folder is listed")
    return folder


def _predict(tiny_model_path, params_file, *args):
    base = ["predict", "--model", str(tiny_model_path), "--params", str(params_file)]
    return CliRunner().invoke(cli, [*base, *args], catch_exceptions=False)


def test_csv_has_a_row_per_image_and_the_broken_one_says_why(tiny_model_path, params_file, photos):
    result = _predict(tiny_model_path, params_file, str(photos), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["path", "label", "probability", "p_dog", "error"]
    by_name = {Path(row["path"]).name: row for row in rows}
    assert sorted(by_name) == ["broken.jpg", "fido.PNG", "rex.jpg", "tom.jpg"]
    assert by_name["broken.jpg"]["label"] == ""
    assert by_name["broken.jpg"]["error"].startswith("truncated")
    assert [by_name[n]["label"] for n in ("rex.jpg", "fido.PNG", "tom.jpg")] == ["dog"] * 2 + [
        "cat"
    ]
    tom = by_name["tom.jpg"]
    assert float(tom["probability"]) == pytest.approx(1 - float(tom["p_dog"]), abs=1e-12)
    assert "3 classified, 1 could not be read" in result.stderr


def test_json_and_table_say_the_same(tiny_model_path, params_file, photos):
    rex = str(photos / "rex.jpg")
    as_json = json.loads(_predict(tiny_model_path, params_file, rex, "--format", "json").stdout)
    table = _predict(tiny_model_path, params_file, rex).stdout.splitlines()
    assert as_json[0]["label"] == "dog"
    assert as_json[0]["error"] is None
    assert table[0].split() == ["label", "probability", "p_dog", "path"]
    label, probability, p_dog, path = table[1].split()
    assert (label, path) == ("dog", rex)
    assert float(probability) == pytest.approx(as_json[0]["probability"], abs=5e-5)


def test_quoted_globs_are_expanded_and_missing_files_get_a_row(
    tiny_model_path, params_file, photos
):
    pattern = str(photos / "**" / "*.jpg")
    missing = str(photos / "nobody.jpg")
    result = _predict(tiny_model_path, params_file, pattern, missing, "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [Path(row["path"]).name for row in rows] == [
        "broken.jpg",
        "tom.jpg",
        "rex.jpg",
        "nobody.jpg",
    ]
    assert rows[-1]["error"].startswith("unreadable")


def test_batch_size_is_any_positive_number(tiny_model_path, params_file, photos):
    outputs = [
        json.loads(
            _predict(
                tiny_model_path, params_file, str(photos), "--format", "json", "--batch-size", size
            ).stdout
        )
        for size in ("1", "3")
    ]
    assert outputs[0] == outputs[1]
    bad = CliRunner().invoke(cli, ["predict", "--batch-size", "0", str(photos)])
    assert bad.exit_code == 2


def test_exit_status_is_1_only_when_nothing_was_classified(tiny_model_path, params_file, photos):
    only_bad = _predict(tiny_model_path, params_file, str(photos / "broken.jpg"))
    assert only_bad.exit_code == 1
    assert "0 classified, 1 could not be read" in only_bad.stderr
    empty = photos / "empty"
    empty.mkdir()
    nothing = _predict(tiny_model_path, params_file, str(empty))
    assert nothing.exit_code == 1
    assert "No image files found" in nothing.output


def test_missing_model_is_a_clear_error(tmp_path, params_file, photos):
    result = CliRunner().invoke(
        cli,
        [
            "predict",
            "--model",
            str(tmp_path / "none.keras"),
            "--params",
            str(params_file),
            str(photos),
        ],
    )
    assert result.exit_code == 1
    assert "No model at" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_the_console_script_prints_csv(tiny_model_path, params_file, photos):
    """The installed `catdog` entry point, as a user runs it (a fresh Python: TF import ~10 s)."""
    catdog = Path(sys.executable).with_name("catdog")
    if not catdog.exists():
        pytest.skip(f"{catdog} is not installed: `pip install -e .` first")
    result = subprocess.run(
        [
            catdog,
            "predict",
            str(photos / "rex.jpg"),
            "--model",
            str(tiny_model_path),
            "--params",
            str(params_file),
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split(",")[1] == "dog"
