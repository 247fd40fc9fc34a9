"""dvc.yaml and the Kedro pipelines describe one graph: the check that keeps them in step."""

from __future__ import annotations

import copy

import yaml
from kedro.pipeline import Pipeline, node

from catdog_pipeline.consistency import mismatches, project_mismatches


def test_the_project_dvc_yaml_matches_its_kedro_pipelines(project_root) -> None:
    assert project_mismatches(project_root) == []


def _identity(*args):
    return args[0]


PIPELINES = {
    "shrink": Pipeline(
        [
            node(_identity, ["photos", "params:shrink.size"], "small", name="a"),
            node(_identity, ["small", "params:shrink"], "summary", name="b"),
        ]
    )
}
CATALOG = {
    "photos": {"type": "x", "path": "data/photos"},
    "small": {"type": "x", "filepath": "data/small.parquet"},
    "summary": {"type": "wrapper", "dataset": {"type": "x", "filepath": "reports/summary.json"}},
}
IN_STEP = {
    "stages": {
        "shrink": {
            "cmd": "kedro run --pipeline shrink",
            "deps": ["src/catdog_pipeline/pipelines/shrink", "data/photos"],
            "params": ["shrink.size", "shrink"],
            "outs": ["data/small.parquet"],
            "metrics": [{"reports/summary.json": {"cache": False}}],
        }
    }
}


def drifted(edit) -> dict:
    dvc_yaml = copy.deepcopy(IN_STEP)
    edit(dvc_yaml["stages"]["shrink"])
    return dvc_yaml


def test_graphs_in_step_have_no_mismatch() -> None:
    assert mismatches(IN_STEP, PIPELINES, CATALOG) == []


def test_a_param_missing_from_dvc_is_reported() -> None:
    problems = mismatches(drifted(lambda s: s["params"].remove("shrink")), PIPELINES, CATALOG)
    assert problems == ["stage shrink: params lack shrink (Kedro uses it)"]


def test_a_param_kedro_never_reads_is_reported() -> None:
    problems = mismatches(drifted(lambda s: s["params"].append("other")), PIPELINES, CATALOG)
    assert problems == ["stage shrink: params list other, which Kedro does not use"]


def test_an_undeclared_output_is_reported() -> None:
    problems = mismatches(drifted(lambda s: s.pop("metrics")), PIPELINES, CATALOG)
    assert problems == [
        "stage shrink: outs/metrics/plots lack reports/summary.json (Kedro uses it)"
    ]


def test_a_missing_input_dependency_is_reported() -> None:
    problems = mismatches(drifted(lambda s: s["deps"].remove("data/photos")), PIPELINES, CATALOG)
    assert problems == ["stage shrink: deps lack data/photos (the pipeline reads it)"]


def test_a_stage_without_a_pipeline_is_reported() -> None:
    dvc_yaml = yaml.safe_load(yaml.safe_dump(IN_STEP).replace("shrink", "grow"))
    assert mismatches(dvc_yaml, PIPELINES, CATALOG) == [
        "stage grow: Kedro has no pipeline named 'grow'"
    ]


def test_catdog_check_reports_drift_and_exits_non_zero(project_copy) -> None:
    from click.testing import CliRunner

    from catdog_pipeline.cli import cli

    agree = CliRunner().invoke(cli, ["check", "--project", str(project_copy)])
    assert agree.exit_code == 0, agree.output
    dvc_yaml = project_copy / "dvc.yaml"
    dvc_yaml.write_text(dvc_yaml.read_text().replace("      - split\n", "", 1))
    drift = CliRunner().invoke(cli, ["check", "--project", str(project_copy)])
    assert drift.exit_code == 1
    assert "stage split: params lack split (Kedro uses it)" in drift.output


def write_stage_code(root, stage: str, source: str) -> None:
    folder = root / "src/catdog_pipeline/pipelines" / stage
    folder.mkdir(parents=True)
    (folder / "nodes.py").write_text(source)
    (root / "src/catdog_pipeline/core").mkdir(exist_ok=True)
    (root / "src/catdog_pipeline/images.py").write_text("")


def test_a_stage_importing_another_stage_is_named(tmp_path) -> None:
    write_stage_code(
        tmp_path,
        "shrink",
        "from catdog_pipeline.pipelines.train import models\nfrom ..evaluate.nodes import f\n",
    )

    problems = mismatches(IN_STEP, PIPELINES, CATALOG, project_root=tmp_path)

    assert problems == [
        "stage shrink: its code imports stage evaluate (catdog_pipeline.pipelines.evaluate"
        ".nodes); move what both need to catdog_pipeline/core",
        "stage shrink: its code imports stage train (catdog_pipeline.pipelines.train); move "
        "what both need to catdog_pipeline/core",
    ]


def test_shared_code_a_stage_imports_must_be_among_its_deps(tmp_path) -> None:
    write_stage_code(
        tmp_path,
        "shrink",
        "import catdog_pipeline.images\nfrom catdog_pipeline.core.plots import plot_roc\n"
        "from catdog_pipeline.datasets import staging_folder\nfrom . import helpers\n",
    )

    problems = mismatches(IN_STEP, PIPELINES, CATALOG, project_root=tmp_path)

    assert problems == [
        "stage shrink: deps lack src/catdog_pipeline/core (its code imports "
        "catdog_pipeline.core.plots)",
        "stage shrink: deps lack src/catdog_pipeline/images.py (its code imports "
        "catdog_pipeline.images)",
    ]
    in_step = copy.deepcopy(IN_STEP)
    in_step["stages"]["shrink"]["deps"] += [
        "src/catdog_pipeline/core",
        "src/catdog_pipeline/images.py",
    ]
    assert mismatches(in_step, PIPELINES, CATALOG, project_root=tmp_path) == []
