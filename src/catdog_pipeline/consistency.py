"""Check that dvc.yaml and the Kedro project describe the same graph (`catdog check`).

For each DVC stage `kedro run --pipeline <name>`: its `params:` are exactly the parameters the
pipeline's nodes read; its outs, metrics and plots are exactly the catalog paths the pipeline
writes; its deps hold the catalog paths it reads from other stages, its own code folder and
every shared module its code imports (core/, images.py, sources/); and its code imports no
other stage, so what several stages share lives in one place.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from kedro.pipeline import Pipeline

from catdog_pipeline.catalog_paths import catalog_paths

PARAMS_PREFIX = "params:"
PACKAGE = "catdog_pipeline"
# How a stage runs, not what it computes: no output changes with them, so they are no deps.
# `serving` is the deployment code the evaluate stage bundles into the MLflow model.
RUN_MACHINERY = ("datasets", "errors", "processes", "staging", "serving", "core.errors")


@dataclass(frozen=True)
class StageGraph:
    """What one stage reads and writes, as file paths and parameter keys."""

    params: frozenset[str]
    reads: frozenset[str]
    writes: frozenset[str]


def dvc_stage_graphs(dvc_yaml: Mapping) -> dict[str, tuple[str, StageGraph]]:
    """Each dvc.yaml stage: (its cmd, its params/deps/outs+metrics+plots)."""
    graphs = {}
    for name, stage in dvc_yaml.get("stages", {}).items():
        writes = [
            *_paths(stage.get("outs", ())),
            *_paths(stage.get("metrics", ())),
            *_paths(stage.get("plots", ())),
        ]
        graphs[name] = (
            stage.get("cmd", ""),
            StageGraph(
                params=frozenset(_param_keys(stage.get("params", ()))),
                reads=frozenset(_paths(stage.get("deps", ()))),
                writes=frozenset(writes),
            ),
        )
    return graphs


def _paths(entries: Iterable) -> list[str]:
    """Paths of a deps/outs/metrics/plots list, whose items are strings or {path: options}."""
    return [
        path.rstrip("/")
        for entry in entries
        for path in ([entry] if isinstance(entry, str) else entry)
    ]


def _param_keys(entries: Iterable) -> list[str]:
    """Keys of a `params:` list; a {file: [keys]} item contributes its keys."""
    keys: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            keys.append(entry)
        else:
            keys.extend(key for file_keys in entry.values() for key in file_keys)
    return keys


def kedro_stage_graph(pipeline: Pipeline, catalog_paths: Mapping[str, str]) -> StageGraph:
    """A Kedro pipeline's parameters and the catalog paths it reads (from outside) and writes."""
    params = {name[len(PARAMS_PREFIX) :] for name in pipeline.inputs() if _is_param(name)}
    produced = pipeline.all_outputs()
    reads = {name for node in pipeline.nodes for name in node.inputs} - produced
    return StageGraph(
        params=frozenset(params),
        reads=frozenset(catalog_paths[name] for name in reads if name in catalog_paths),
        writes=frozenset(catalog_paths[name] for name in produced if name in catalog_paths),
    )


def _is_param(name: str) -> bool:
    return name.startswith(PARAMS_PREFIX) or name == "parameters"


def mismatches(
    dvc_yaml: Mapping,
    pipelines: Mapping[str, Pipeline],
    catalog_config: Mapping[str, Mapping],
    package_dir: str = "src/catdog_pipeline/pipelines",
    project_root: Path = Path("."),
) -> list[str]:
    """Every way dvc.yaml and the Kedro project disagree, as sentences; empty when in step."""
    paths = catalog_paths(catalog_config)
    problems = []
    for stage, (cmd, declared) in dvc_stage_graphs(dvc_yaml).items():
        if cmd.split() != ["kedro", "run", "--pipeline", stage]:
            problems.append(f"stage {stage}: cmd should be `kedro run --pipeline {stage}`")
            continue
        if stage not in pipelines:
            problems.append(f"stage {stage}: Kedro has no pipeline named {stage!r}")
            continue
        actual = kedro_stage_graph(pipelines[stage], paths)
        problems += _differences(stage, "params", declared.params, actual.params)
        problems += _differences(stage, "outs/metrics/plots", declared.writes, actual.writes)
        code = f"{package_dir}/{stage}"
        for missing in sorted((actual.reads | {code}) - declared.reads):
            problems.append(f"stage {stage}: deps lack {missing} (the pipeline reads it)")
        problems += code_problems(stage, project_root, code, declared.reads)
    return problems


def code_problems(stage: str, project_root: Path, code: str, deps: frozenset[str]) -> list[str]:
    """A stage's code imports no other stage, and every shared module it imports is a dep."""
    problems = []
    for module in sorted(imported_modules(project_root / code)):
        parts = module.split(".")[1:]
        name = ".".join(parts)
        if not parts or any(name == m or name.startswith(f"{m}.") for m in RUN_MACHINERY):
            continue
        if parts[0] == "pipelines":
            if len(parts) > 1 and parts[1] != stage:
                problems.append(
                    f"stage {stage}: its code imports stage {parts[1]} ({module}); move what "
                    "both need to catdog_pipeline/core"
                )
            continue
        package = Path(code).parents[1]  # src/catdog_pipeline
        # The module's file or any package folder holding it may be the dep.
        candidates = [package.joinpath(*parts[:depth]) for depth in range(1, len(parts) + 1)]
        paths = [
            str(path if (project_root / path).is_dir() else path.with_suffix(".py"))
            for path in candidates
        ]
        if not deps.intersection(paths):
            problems.append(f"stage {stage}: deps lack {paths[0]} (its code imports {module})")
    return problems


def imported_modules(folder: Path) -> set[str]:
    """The `catdog_pipeline` modules the .py files under `folder` import, relative ones included."""
    package_parts = folder.parts[folder.parts.index(PACKAGE) :]
    modules = set()
    for file in folder.rglob("*.py"):
        for statement in ast.walk(ast.parse(file.read_text(), str(file))):
            if isinstance(statement, ast.Import):
                modules.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom):
                if statement.level:  # relative: resolve against the file's package
                    here = [*package_parts, *file.parent.relative_to(folder).parts]
                    base = here[: len(here) - statement.level + 1]
                    statement_module = ".".join([*base, *filter(None, [statement.module])])
                else:
                    statement_module = statement.module or ""
                modules.add(statement_module)
    return {module for module in modules if module.split(".")[0] == PACKAGE}


def _differences(stage: str, field: str, declared: frozenset, actual: frozenset) -> list[str]:
    return [
        *(f"stage {stage}: {field} lack {item} (Kedro uses it)" for item in actual - declared),
        *(
            f"stage {stage}: {field} list {item}, which Kedro does not use"
            for item in declared - actual
        ),
    ]


def project_mismatches(project_root: Path) -> list[str]:
    """`mismatches` for the Kedro project and dvc.yaml at `project_root`."""
    from kedro.framework.project import pipelines, settings
    from kedro.framework.startup import bootstrap_project

    # The config loader alone, not a session: a session would fire hooks (MLflow) for nothing.
    bootstrap_project(project_root)
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_root / settings.CONF_SOURCE), **settings.CONFIG_LOADER_ARGS
    )
    catalog_config = loader["catalog"]
    dvc_yaml = yaml.safe_load((project_root / "dvc.yaml").read_text())
    return mismatches(dvc_yaml, dict(pipelines), catalog_config, project_root=project_root)
