"""The project's pipelines: one modular pipeline per stage, plus the composites."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Composite pipelines, each a sequence of stage pipelines.
COMPOSITES = {
    "data": ("ingest", "clean", "split"),
    "training": ("train", "evaluate"),
}


def register_pipelines() -> dict[str, Pipeline]:
    """Map pipeline names to pipelines: each stage, the composites, and `__default__` (all)."""
    stages = find_pipelines(raise_errors=True)
    pipelines = dict(stages)
    for name, members in COMPOSITES.items():
        pipelines[name] = sum((stages[m] for m in members if m in stages), Pipeline([]))
    pipelines["__default__"] = sum(stages.values(), Pipeline([]))
    return pipelines
