"""A dataset's path is written once, in the catalog: the code outside Kedro asks catalog_paths.

The commands that follow a moved catalog are tested where they are (test_cli.py: summary,
test_promotion_cli.py: gate-set, test_mlflow_tracking.py: the run's DVC hashes).
"""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from tests.catalog import PROJECT_ROOT, copy_catalog

from catdog_pipeline.catalog_paths import dataset_path, project_catalog_paths

PACKAGE = PROJECT_ROOT / "src" / "catdog_pipeline"


def test_a_dataset_is_where_the_catalog_says_and_conf_local_overrides_base(tmp_path: Path):
    assert dataset_path("model", copy_catalog(tmp_path / "as_is")) == (
        tmp_path / "as_is/data/06_models/model.keras"
    )
    moved = copy_catalog(tmp_path / "moved", moved_under="elsewhere")
    assert dataset_path("model", moved) == moved / "elsewhere/data/06_models/model.keras"
    # A wrapped dataset (kedro-mlflow's artifact) is found inside its wrapper.
    assert dataset_path("evaluation_metrics", moved) == moved / "elsewhere/reports/metrics.json"

    (moved / "conf/local").mkdir()
    override = {"model": {"type": "catdog_pipeline.datasets.KerasModelDataset", "filepath": "m.k"}}
    (moved / "conf/local/catalog.yml").write_text(yaml.safe_dump(override))
    assert dataset_path("model", moved) == moved / "m.k"


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    """The string literals of a module, docstrings left out (they may name paths for people)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def test_no_module_keeps_its_own_copy_of_a_catalog_path():
    """A literal that *is* a catalog path would not move with it (a message may name one)."""
    catalog = set(project_catalog_paths(PROJECT_ROOT).values())
    copies = [
        f"{module.relative_to(PROJECT_ROOT)}:{node.lineno} {node.value!r}"
        for module in sorted(PACKAGE.rglob("*.py"))
        for node in _string_constants(ast.parse(module.read_text()))
        if node.value.rstrip("/") in catalog
    ]
    assert not copies, f"Read these with catdog_pipeline.catalog_paths.dataset_path: {copies}"


def test_the_served_drift_baseline_is_the_evaluate_stages_predictions():
    """params.yaml's serve.drift_reference (a path; null turns it off) is the catalog's file."""
    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    reference = params["serve"]["drift_reference"]
    assert reference == project_catalog_paths(PROJECT_ROOT)["test_predictions"]
