"""What the last pipeline run produced and where to look next (`catdog summary`, `make run`)."""

from __future__ import annotations

import json
from pathlib import Path

from catdog_pipeline.catalog_paths import project_catalog_paths


def run_summary(project: Path) -> str:
    """A few lines: the test figures of the current model, then the commands to explore it."""
    paths = project_catalog_paths(project)
    metrics_file = project / paths["evaluation_metrics"]
    card_file = project / paths["model_card"]
    if not metrics_file.is_file() or not card_file.is_file():
        return (
            f"No evaluated model yet ({paths['evaluation_metrics']} is missing): "
            "run `make run` or `dvc repro`."
        )
    metrics = json.loads(metrics_file.read_text())
    card = json.loads(card_file.read_text())
    backbone = (card.get("pretrained") or {}).get("backbone")
    model = f"{card['architecture']} ({backbone})" if backbone else card["architecture"]
    example = next(iter(sorted((project / paths["raw_images"]).rglob("*.jpg"))), None)
    photo = example.relative_to(project) if example else "path/to/photo.jpg"
    return "\n".join(
        [
            f"Model {model}: test accuracy {metrics['accuracy']:.3f}, log loss "
            f"{metrics['log_loss']:.3f} on {metrics['n_images']} test photos "
            f"({paths['evaluation_metrics']}).",
            "Where to look next (after `source .venv/bin/activate`):",
            f"  report       {paths['report_html']} (open in a browser); "
            f"{paths['report_markdown']}",
            "  runs         mlflow ui --backend-store-uri sqlite:///mlflow.db  -> "
            "http://127.0.0.1:5000",
            f"  predict      catdog predict {photo}",
            "  serve        catdog serve  -> http://127.0.0.1:8000 (upload page, /docs)",
            "  pipelines    kedro viz run  -> http://127.0.0.1:4141",
        ]
    )
