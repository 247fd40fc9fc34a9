"""Console output stays readable: piped lines are whole, square brackets print as written.

The end-to-end tests run a failing `kedro run` in a copy of the project with its output piped,
as `kedro run > log.txt 2>&1` or `dvc repro` would, and read what it printed.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from rich.logging import RichHandler

from catdog_pipeline.console import CONSOLE_HANDLER, use_rich_in_terminals
from catdog_pipeline.errors import UserErrorHook
from catdog_pipeline.sources.local import resolve_local

BRACKETED = "image.size must be [height, width]; see /data/[/raw]/x"


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    """A private logger (not propagating) with a plain `console` handler, as logging.yml has."""
    log = logging.getLogger(f"test_console.{os.urandom(4).hex()}")
    log.propagate = False
    log.setLevel(logging.INFO)
    yield log
    log.handlers.clear()


def _handlers(logger: logging.Logger) -> list[logging.Handler]:
    """The logger's handlers but pytest's (which also captures non-propagating loggers)."""
    return [handler for handler in logger.handlers if type(handler).__module__ != "_pytest.logging"]


def _console_handler(stream: io.StringIO, name: str = CONSOLE_HANDLER) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    handler.set_name(name)
    handler.setLevel(logging.INFO)
    return handler


def test_piped_output_keeps_its_plain_handler(logger) -> None:
    piped = io.StringIO()
    plain = _console_handler(piped)
    logger.addHandler(plain)

    use_rich_in_terminals(logger)
    logger.error("%s, one line however long: %s", BRACKETED, "x" * 200)

    assert _handlers(logger) == [plain]
    assert piped.getvalue() == f"{BRACKETED}, one line however long: {'x' * 200}\n"


def test_a_terminal_gets_rich_without_markup(logger) -> None:
    terminal = Terminal()
    logger.addHandler(_console_handler(terminal))

    use_rich_in_terminals(logger)
    use_rich_in_terminals(logger)  # idempotent
    logger.error(BRACKETED)

    (handler,) = _handlers(logger)
    assert isinstance(handler, RichHandler)
    assert (handler.markup, handler.level, handler.get_name()) == (False, logging.INFO, "console")
    assert BRACKETED in re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())  # colours aside


def test_handlers_configured_otherwise_are_left_alone(logger) -> None:
    other = _console_handler(Terminal(), name="somebody_elses")
    logger.addHandler(other)

    use_rich_in_terminals(logger)

    assert _handlers(logger) == [other]


def test_the_error_hook_prints_brackets_even_through_a_markup_handler(monkeypatch) -> None:
    """Kedro's own Rich handler reads markup by default; the hook's message opts out."""
    monkeypatch.delenv("CATDOG_TRACEBACK", raising=False)
    output = io.StringIO()
    handler = RichHandler(console=Console(file=output, width=400), markup=True)
    errors_logger = logging.getLogger("catdog_pipeline.errors")
    errors_logger.addHandler(handler)
    try:
        with pytest.raises(Exception) as raised:
            resolve_local("/nowhere[/such]/photos")
        with pytest.raises(SystemExit):
            UserErrorHook().on_pipeline_error(error=raised.value)
    finally:
        errors_logger.removeHandler(handler)

    assert "ingest.source '/nowhere[/such]/photos' does not exist" in output.getvalue()


# ---- a failing `kedro run`, output piped


def _failing_kedro_run(project: Path, params: str) -> str:
    """`kedro run --params ...` with stdout and stderr piped: what it printed (it must fail)."""
    done = subprocess.run(
        ["kedro", "run", "--pipeline", "data", "--params", params],
        cwd=project,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "COLUMNS": "80"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stdout
    assert "MarkupError" not in done.stdout
    assert "Traceback" not in done.stdout, done.stdout
    return done.stdout


def _line_with(output: str, text: str) -> str:
    lines = [line for line in output.splitlines() if text in line]
    assert lines, f"no line holds {text!r} whole:\n{output}"
    return lines[-1]


@pytest.mark.slow
def test_a_missing_source_with_brackets_is_printed_whole(project_copy, tmp_path) -> None:
    source = tmp_path / "photos[/2024] from the old laptop" / "cats and dogs"

    output = _failing_kedro_run(project_copy, f"ingest.source={source}")

    message = (
        f"ingest.source {str(source)!r} does not exist (looked for {source}). "
        "Fix `ingest.source` in params.yaml: an existing local archive or directory"
    )
    line = _line_with(output, message)
    assert "ERROR" in line and "catdog_pipeline.errors" in line
    assert "(CATDOG_TRACEBACK=1 shows the full traceback.)" in output
    assert "Using 'conf/logging.yml' as logging configuration" in output


@pytest.mark.slow
def test_a_bad_image_size_keeps_its_square_brackets(project_copy, tmp_path, make_image) -> None:
    photos = tmp_path / "photos"
    for index, label in enumerate(["cat", "dog"] * 2):
        make_image(photos / label / f"{index}.jpg", seed=index)

    output = _failing_kedro_run(project_copy, f"ingest.source={photos},image.size=[4]")

    # The params check stops the run before any stage; its message keeps every bracket.
    assert "params.yaml has 2 problem(s):" in _line_with(output, "ERROR")
    _line_with(output, "  - image.size[0] = 4: Input should be greater than or equal to 8")
    _line_with(output, "  - image.size[1] is missing")
    assert "Running node" not in output
