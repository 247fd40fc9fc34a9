"""The report pipeline's wiring: light to import, joined to the other stages by dataset name."""

from __future__ import annotations

import subprocess
import sys

import yaml
from kedro.config import OmegaConfigLoader

from catdog_pipeline.pipelines.report import create_pipeline

REPORT_KEYS = {
    "gallery_size",
    "gradcam_examples",
    "thumbnail_size",
    "data_quality_thumbnails",
    "calibration_bins",
}


def test_importing_the_pipeline_imports_no_heavy_library():
    code = (
        "import sys, catdog_pipeline.pipelines.report.pipeline\n"
        "heavy = {'tensorflow', 'keras', 'mlflow', 'matplotlib', 'dvc', 'sklearn'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_every_input_and_output_is_a_catalog_dataset(project_root):
    loader = OmegaConfigLoader(str(project_root / "conf"), base_env="base", default_run_env="local")
    catalog = loader["catalog"]
    pipeline = create_pipeline()
    datasets = {name for name in pipeline.inputs() if not name.startswith("params:")}
    assert datasets - set(catalog) == set(), "inputs no stage's catalog declares"
    assert {"report_html", "report_markdown"} <= set(catalog)
    assert catalog["report_html"]["filepath"] == "reports/report.html"
    assert catalog["report_markdown"]["filepath"] == "reports/report.md"


def test_params_yaml_report_section_has_the_keys_the_nodes_read(project_root):
    params = yaml.safe_load((project_root / "params.yaml").read_text())
    assert set(params["report"]) == REPORT_KEYS
    assert {name for name in create_pipeline().inputs() if name.startswith("params:")} == {
        "params:report",
        "params:image.max_pixels",
        "params:audit.suspects",
        "params:audit.outliers",
    }
