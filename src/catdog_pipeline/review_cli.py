"""`catdog review`: put the label audit's current suspects into the review file (cli.py adds it)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--project",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The project folder.",
)
@click.option("--suspects", type=click.IntRange(min=0), help="Default: params audit.suspects.")
@click.option("--outliers", type=click.IntRange(min=0), help="Default: params audit.outliers.")
def review(project: Path, suspects: int | None, outliers: int | None) -> None:
    """Add the label audit's top suspects to the label review file as pending entries.

    The photos with the lowest label quality and the most unusual ones (as many as params.yaml
    audit.suspects and audit.outliers say) that the file does not decide on yet are appended;
    what it holds already stays as written. Then change each `pending` to keep, exclude or
    {relabel: <class>}, and `dvc repro`.
    """
    import pandas as pd
    import yaml

    from catdog_pipeline.catalog_paths import dataset_path
    from catdog_pipeline.core.errors import CatdogError
    from catdog_pipeline.core.label_review import append_pending, open_suspects, read_label_review
    from catdog_pipeline.core.params_schema import validate_sections

    try:
        audit_path, review_path = (
            dataset_path(name, project) for name in ("label_audit", "label_review")
        )
        if not audit_path.is_file():
            raise click.ClickException(f"No {audit_path}: run the audit first (`dvc repro audit`).")
        params = yaml.safe_load((project / "params.yaml").read_text())
        validate_sections(params, ("audit",))
        existing = read_label_review(review_path)
        worst, unusual = open_suspects(
            pd.read_csv(audit_path),
            existing,
            params["audit"]["suspects"] if suspects is None else suspects,
            params["audit"]["outliers"] if outliers is None else outliers,
        )
        listed = {entry.sha256 for entry in existing.decisions}
        new = [
            {**row, "audit": _evidence(row, unusual=kind == "outlier")}
            for kind, rows in (("suspect", worst), ("outlier", unusual))
            for row in rows.to_dict("records")
            if row["sha256"] not in listed
        ]
        if new:
            append_pending(review_path, new)
    except CatdogError as error:
        raise click.ClickException(str(error)) from None
    for row in new:
        click.echo(f"  {row['sha256'][:12]}…  {row['audit']}  {row['original_path']}")
    pending = sum(entry.decision == "pending" for entry in existing.decisions) + len(new)
    click.echo(
        f"{review_path}: {len(new)} pending entries added, {pending} pending in all. Set each "
        "decision (keep, exclude or {relabel: <class>}), then `dvc repro`."
    )


def _evidence(row: dict, *, unusual: bool) -> str:
    """What the audit found, for the person deciding: given and suggested label, scores."""
    found = "unusual photo, " if unusual else ""
    return (
        f"{found}labelled {row['label']}, suggested {row['suggested_label']}, label quality "
        f"{row['label_quality']:.3f}, outlier score {row['outlier_score']:.3f}"
    )
