"""Every library the package imports is declared in pyproject.toml, not just pulled in."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_top_level_modules() -> set[str]:
    modules = set()
    for file in (ROOT / "src").rglob("*.py"):
        for statement in ast.walk(ast.parse(file.read_text())):
            if isinstance(statement, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in statement.names)
            elif (
                isinstance(statement, ast.ImportFrom) and statement.level == 0 and statement.module
            ):
                modules.add(statement.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"", "__future__", "catdog_pipeline"}


def test_every_imported_library_is_a_declared_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        for requirement in project["dependencies"]
    }
    distributions = packages_distributions()
    undeclared = {
        module: distributions.get(module)
        for module in imported_top_level_modules()
        if not {name.lower().replace("_", "-") for name in distributions.get(module, [])} & declared
    }
    assert undeclared == {}, "imported but not declared in pyproject.toml dependencies"
