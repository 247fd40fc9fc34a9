"""How well the label audit finds wrong labels: plant label flips in a real archive, audit it.

    nice -n 10 python benchmarks/bench_label_audit.py \
        [--archive ../shared/datasets/petimages-180-12k.zip] [--fraction 0.01] [--seed 0]

Copies the archive with `--fraction` of its photos (chosen with `--seed`) moved to the other
class's folder, and in a temporary copy of the project (your data/ and reports/ are left alone)
runs `kedro run --pipeline data` then `--pipeline audit` on it with the project's parameters
as they are (nothing is tuned to the archive). Reports, for the planted flips that survive
cleaning (a flipped photo with a copy left in its true class is dropped as a label conflict):
precision and recall of the audit's top k and top 2k (k = the number of planted flips), the
average precision of the whole ranking, the same for cleanlab's `label_issue` flag, and the
stage's time and peak memory. With `--sheet`, also draws the top k photos that were not
planted (suspects in the original archive's own labels) into a contact sheet to look at.
Writes benchmarks/results/bench_label_audit.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from bench_train import DEFAULT_ARCHIVE, prepare_project, run_stage
from machine import describe_machine, save_results

CLASS_FOLDERS = ("Cat", "Dog")


def plant_flips(archive: Path, target: Path, fraction: float, seed: int) -> dict[str, str]:
    """Copy `archive` to `target` with `fraction` of its photos moved to the other class's
    folder (renamed `moved-<n>`, so no name clashes); planted path -> original path."""
    rng = np.random.default_rng(seed)
    with zipfile.ZipFile(archive) as source:
        photos = [
            info for info in source.infolist() if not info.is_dir() and _folder(info.filename)
        ]
        chosen = set(rng.choice(len(photos), round(fraction * len(photos)), replace=False))
        planted = {}
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as copy:
            for index, info in enumerate(photos):
                name = info.filename
                if index in chosen:
                    other = CLASS_FOLDERS[1 - CLASS_FOLDERS.index(_folder(name))]
                    moved = f"PetImages/{other}/moved-{index}.jpg"
                    planted[moved] = name
                    name = moved
                copy.writestr(name, source.read(info))
    return planted


def _folder(name: str) -> str | None:
    parts = name.split("/")
    return parts[-2] if len(parts) >= 2 and parts[-2] in CLASS_FOLDERS else None


def precision_recall_at(ranked_planted: np.ndarray, k: int, planted: int) -> dict[str, float]:
    """Precision and recall of the first `k` rows, given which rows are planted flips."""
    hits = int(ranked_planted[:k].sum())
    return {
        "k": k,
        "hits": hits,
        "precision": round(hits / k, 4),
        "recall": round(hits / planted, 4),
    }


def score_audit(audit: pd.DataFrame, planted_paths: set[str]) -> dict[str, Any]:
    """The audit's ranking and cleanlab's flag against the planted flips among its photos."""
    is_planted = audit["original_path"].isin(planted_paths).to_numpy()
    planted = int(is_planted.sum())
    flagged = audit["label_issue"].astype(bool).to_numpy()
    return {
        "photos_audited": len(audit),
        "planted_flips_audited": planted,
        "top_k": precision_recall_at(is_planted, planted, planted),
        "top_2k": precision_recall_at(is_planted, 2 * planted, planted),
        "average_precision": round(
            float(average_precision_score(is_planted, -audit["label_quality"])), 4
        ),
        "planted_suggested_back": round(
            float(
                (audit.loc[is_planted, "suggested_label"] != audit.loc[is_planted, "label"]).mean()
            ),
            4,
        ),
        "label_issue_flag": {
            "flagged": int(flagged.sum()),
            "precision": round(float(is_planted[flagged].mean()), 4) if flagged.any() else None,
            "recall": round(float(flagged[is_planted].mean()), 4),
        },
    }


def contact_sheet(audit: pd.DataFrame, planted_paths: set[str], images: Path, k: int, out: Path):
    """The top-k suspects that were not planted, 8 per row, captioned with their rank."""
    from PIL import Image, ImageDraw

    rows = audit.head(k)
    rows = rows[~rows["original_path"].isin(planted_paths)]
    side, columns = 160, 8
    sheet = Image.new("RGB", (side * columns, side * -(-len(rows) // columns)), "white")
    for position, row in enumerate(rows.itertuples()):
        tile = Image.open(images / row.image_path).convert("RGB").resize((side, side))
        caption = f"{row.Index + 1} {row.label}->{row.suggested_label}"
        ImageDraw.Draw(tile).text((3, 3), caption, fill="yellow")
        sheet.paste(tile, ((position % columns) * side, (position // columns) * side))
    sheet.save(out)
    return rows[["original_path", "label", "suggested_label", "label_quality"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--fraction", type=float, default=0.01, help="share of photos flipped")
    parser.add_argument("--seed", type=int, default=0, help="which photos are flipped")
    parser.add_argument("--sheet", type=Path, help="contact sheet of unplanted top-k suspects")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project")
    args = parser.parse_args()
    if not args.archive.is_file():
        raise SystemExit(f"{args.archive} does not exist: see ../shared/datasets/README.md")

    machine = describe_machine()
    planted_folder = Path(tempfile.mkdtemp(prefix="bench-audit-archive-"))
    planted_archive = planted_folder / f"planted-{args.archive.name}"
    planted = plant_flips(args.archive, planted_archive, args.fraction, args.seed)
    scratch, project, params = prepare_project("bench-audit-", planted_archive, [])
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "KEDRO_DISABLE_TELEMETRY": "1",
        "CATDOG_CACHE_DIR": str(scratch / "cache"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{scratch / 'mlflow.db'}",
    }
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    data = run_stage("data", project, env, scratch)
    audit_run = run_stage("audit", project, env, scratch)
    audit = pd.read_csv(project / "reports/label_audit.csv")
    results = {
        "benchmark": "bench_label_audit",
        "machine": {**machine, "load_average_at_end": [round(v, 2) for v in os.getloadavg()]},
        "note": "2 cores shared with other jobs (see load averages): times are upper bounds",
        "archive": args.archive.name,
        "planted": {"fraction": args.fraction, "seed": args.seed, "flips": len(planted)},
        "params": {"audit": params["audit"], "backbone": params["train"]["transfer"]["backbone"]},
        **score_audit(audit, set(planted)),
        "seconds": {"data_stages": data["seconds"], "audit": audit_run["seconds"]},
        "audit_ms_per_photo": round(1000 * audit_run["seconds"] / len(audit), 1),
        "audit_peak_rss_mib": audit_run["peak_rss_mib"],
    }
    if args.sheet:
        k = results["planted_flips_audited"]
        shown = contact_sheet(
            audit, set(planted), project / "data/02_intermediate/images", k, args.sheet
        )
        print(shown.to_string())
    if args.keep:
        results["project"] = str(project)
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(planted_folder, ignore_errors=True)
    save_results("bench_label_audit", results)


if __name__ == "__main__":
    main()
