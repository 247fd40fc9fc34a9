"""DVC re-runs the right stages when the label review file changes (read from DVC's own graph)."""

from __future__ import annotations

REVIEW_FILE = "conf/base/label_review.yml"


def downstream(graph, stage) -> set:
    """Every stage that depends on `stage`, directly or not (DVC's edges point to dependencies)."""
    found, frontier = set(), [stage]
    while frontier:
        for dependent in graph.predecessors(frontier.pop()):
            if dependent not in found:
                found.add(dependent)
                frontier.append(dependent)
    return found


def test_the_review_file_feeds_split_and_report_and_through_split_the_rest(project_copy) -> None:
    from dvc.repo import Repo

    with Repo(str(project_copy)) as repo:
        stages = {stage.name: stage for stage in repo.index.stages}
        readers = {
            name
            for name, stage in stages.items()
            if any(d.def_path == REVIEW_FILE for d in stage.deps)
        }
        after_split = {stage.name for stage in downstream(repo.index.graph, stages["split"])}
        written = {out.def_path for stage in stages.values() for out in stage.outs}

    # A new decision re-runs split (which applies it) and report (which lists what is left to
    # decide); audit, train and the rest re-run only if split's output changed, so a `pending`
    # or `keep` entry costs no training.
    assert readers == {"split", "report"}
    assert {"audit", "train", "evaluate", "report", "promote"} <= after_split
    assert REVIEW_FILE not in written  # people write it, never a stage
