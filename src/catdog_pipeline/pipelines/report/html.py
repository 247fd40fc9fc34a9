"""Rendering the report's Jinja2 templates (templates/ beside this file) into HTML or Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"


def number(value: Any, digits: int = 3) -> str:
    """A metric for people: floats to `digits` decimals, counts with thousands separators."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def signed(value: float, digits: int = 3) -> str:
    """A change with its sign always shown: +0.012, -0.004."""
    return f"{value:+.{digits}f}"


def percent(value: float | None, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def render(template: str, **context: Any) -> str:
    """Render `template` from templates/; `.html.j2` templates are HTML-escaped, others not."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(number=number, signed=signed, percent=percent)
    return environment.get_template(template).render(**context)
