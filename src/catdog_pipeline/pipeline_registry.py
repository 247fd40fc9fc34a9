"""The project's pipelines: one modular pipeline per stage, plus the composites."""

from kedro.pipeline import Pipeline

from catdog_pipeline.pipelines import (
    audit,
    clean,
    evaluate,
    ingest,
    promote,
    report,
    split,
    train,
)

# Listed explicitly rather than with find_pipelines(): Kedro 1.7 narrows find_pipelines() to the
# pipeline named on the command line, which would leave the composites below empty.
STAGES = {
    "ingest": ingest,
    "clean": clean,
    "split": split,
    "audit": audit,
    "train": train,
    "evaluate": evaluate,
    "report": report,
    "promote": promote,
}
COMPOSITES = {
    "data": ("ingest", "clean", "split"),
    "training": ("train", "evaluate"),
}


def register_pipelines() -> dict[str, Pipeline]:
    """Map pipeline names to pipelines: each stage, the composites, and `__default__` (all)."""
    pipelines = {name: module.create_pipeline() for name, module in STAGES.items()}
    for name, members in COMPOSITES.items():
        pipelines[name] = sum((pipelines[member] for member in members), Pipeline([]))
    pipelines["__default__"] = sum((pipelines[name] for name in STAGES), Pipeline([]))
    return pipelines
