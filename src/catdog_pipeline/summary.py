"""What the last pipeline run produced and where to look next (`catdog summary`, `make run`)."""

from __future__ import annotations

import json
from pathlib import Path

METRICS = Path("reports/metrics.json")
MODEL_CARD = Path("data/06_models/model_card.json")


def run_summary(project: Path) -> str:
    """A few lines: the test figures of the current model, then the commands to explore it."""
    metrics_file, card_file = project / METRICS, project / MODEL_CARD
    if not metrics_file.is_file() or not card_file.is_file():
        return f"No evaluated model yet ({METRICS} is missing): run `make run` or `dvc repro`."
    metrics = json.loads(metrics_file.read_text())
    card = json.loads(card_file.read_text())
    backbone = (card.get("pretrained") or {}).get("backbone")
    model = f"{card['architecture']} ({backbone})" if backbone else card["architecture"]
    example = next(iter(sorted((project / "data/01_raw/images").rglob("*.jpg"))), None)
    photo = example.relative_to(project) if example else "path/to/photo.jpg"
    return "\n".join(
        [
            f"Model {model}: test accuracy {metrics['accuracy']:.3f}, log loss "
            f"{metrics['log_loss']:.3f} on {metrics['n_images']} test photos ({METRICS}).",
            "Where to look next (after `source .venv/bin/activate`):",
            "  report       reports/report.html (open in a browser); reports/report.md",
            "  runs         mlflow ui --backend-store-uri sqlite:///mlflow.db  -> "
            "http://127.0.0.1:5000",
            f"  predict      catdog predict {photo}",
            "  serve        catdog serve  -> http://127.0.0.1:8000 (upload page, /docs)",
            "  pipelines    kedro viz run  -> http://127.0.0.1:4141",
        ]
    )
