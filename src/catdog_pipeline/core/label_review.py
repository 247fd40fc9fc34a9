"""The label review file (`conf/base/label_review.yml`): a person's decisions about photos.

Each entry names a photo by the SHA-256 of its decoded pixels (the manifest's `pixel_sha256`,
which also names its clean image), so a decision survives renaming, moving, re-downloading or
re-encoding the file. Decisions: `pending` (not decided: changes nothing), `keep` (the label
is right), `exclude` (leave the photo out) or `{relabel: <class>}`. The split stage applies
them; `catdog review` appends the audit's current suspects as `pending` entries, leaving what
is already written byte for byte as it was.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import yaml
from kedro.io import AbstractDataset, DatasetError

from catdog_pipeline.core.errors import InputError

DECISIONS = ("pending", "keep", "exclude", "relabel")
ENTRY_KEYS = ("sha256", "decision", "original_path", "audit", "note")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
DECISION_HINT = "pending | keep | exclude | {relabel: <class>}"
HEADER = f"""\
# Label review: your decisions about photos whose label the audit doubts (README: "Reviewing
# labels"). `catdog review` appends the audit's top suspects here as `pending` entries; change
# each decision to one of: {DECISION_HINT}
#   keep             the label is right: the photo stays as it is
#   exclude          leave the photo out of every split (no animal, both animals, unusable)
#   {{relabel: dog}}   the photo is a dog: it keeps its split with the new label
#   pending          not decided yet: changes nothing
# Photos are matched by `sha256`, the SHA-256 of their decoded pixels (the manifest's
# `pixel_sha256`, also the name of the clean image), so a decision survives renames and
# re-downloads. `original_path`, `audit` and `note` are for you; the pipeline ignores them.
# Then `dvc repro`: the split stage applies the decisions and reports/data_quality.json counts
# what they changed. Commit this file.
"""


@dataclass(frozen=True)
class ReviewDecision:
    """One entry of the review file: the photo's content hash and what to do with it."""

    sha256: str
    decision: str  # one of DECISIONS
    new_label: str | None = None  # the class, for `relabel`


@dataclass(frozen=True)
class LabelReview:
    """The decisions of one review file, in file order; `source` names the file in messages."""

    source: str
    decisions: tuple[ReviewDecision, ...]

    def check_classes(self, classes: Sequence[str]) -> None:
        """InputError naming the file and entry if a relabel names a class not in `classes`."""
        for number, entry in enumerate(self.decisions, start=1):
            if entry.decision == "relabel" and entry.new_label not in classes:
                raise InputError(
                    f"{self.source}, entry {number} (sha256 {entry.sha256[:12]}…): relabel to "
                    f"{entry.new_label!r}, which is not a class in params.yaml `classes` "
                    f"{list(classes)}."
                )


def content_hash(image_path: str) -> str:
    """The pixel SHA-256 a clean image is named by (`<sha[:2]>/<sha>.jpg`)."""
    return PurePosixPath(str(image_path)).stem


def parse_label_review(document: Any, source: str) -> LabelReview:
    """The review file's YAML content, checked entry by entry; InputError names file and entry."""
    if document is None:  # only comments: no decisions yet
        return LabelReview(source, ())
    if not isinstance(document, list):
        raise InputError(
            f"{source} must be a YAML list of entries (`- sha256: ...`), not a "
            f"{type(document).__name__}. See the comment at the top of the file."
        )
    decisions, first_seen = [], {}
    for number, entry in enumerate(document, start=1):
        decision = _parse_entry(entry, f"{source}, entry {number}")
        if decision.sha256 in first_seen:
            raise InputError(
                f"{source}, entry {number}: sha256 {decision.sha256[:12]}… is already decided "
                f"in entry {first_seen[decision.sha256]}; keep one entry per photo."
            )
        first_seen[decision.sha256] = number
        decisions.append(decision)
    return LabelReview(source, tuple(decisions))


def _parse_entry(entry: Any, where: str) -> ReviewDecision:
    if not isinstance(entry, Mapping):
        raise InputError(f"{where} must be a mapping with sha256 and decision, got {entry!r}.")
    unknown = sorted(set(map(str, entry)) - set(ENTRY_KEYS))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown} (a typo?); allowed: {ENTRY_KEYS}.")
    sha256 = entry.get("sha256")
    if isinstance(sha256, int | float):  # YAML reads a hash made only of digits as a number
        raise InputError(f"{where}: sha256 was read as a number: put it in quotes ('...').")
    if not isinstance(sha256, str) or not SHA256.match(sha256.strip().lower()):
        raise InputError(
            f"{where}: sha256 {sha256!r} is not 64 hexadecimal digits (the SHA-256 of the "
            "photo's pixels, the `pixel_sha256` column of the manifest)."
        )
    sha256 = sha256.strip().lower()
    decision = entry.get("decision")
    if isinstance(decision, str) and decision in DECISIONS and decision != "relabel":
        return ReviewDecision(sha256, decision)
    if isinstance(decision, Mapping) and list(decision) == ["relabel"]:
        new_label = decision["relabel"]
        if isinstance(new_label, str) and new_label:
            return ReviewDecision(sha256, "relabel", new_label)
    raise InputError(
        f"{where} (sha256 {sha256[:12]}…): unknown decision {decision!r}; write one of "
        f"{DECISION_HINT}, e.g. `decision: {{relabel: dog}}`."
    )


def open_suspects(
    label_audit: pd.DataFrame, review: LabelReview, suspects: int, outliers: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The audit's `suspects` lowest-quality rows and `outliers` most unusual others, among
    the photos the review has not decided on (no entry, or `pending`)."""
    decisions = {entry.sha256: entry.decision for entry in review.decisions}
    open_ = [decisions.get(sha, "pending") == "pending" for sha in label_audit["sha256"]]
    undecided = label_audit[open_]
    worst = undecided.sort_values("label_quality", kind="stable").head(suspects)
    remaining = undecided.drop(worst.index)
    return worst, remaining.sort_values("outlier_score", kind="stable").head(outliers)


def read_label_review(path: Path) -> LabelReview:
    """The review file at `path`, checked; no file reads as no decisions."""
    if not path.is_file():
        return LabelReview(str(path), ())
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise InputError(f"{path} is not valid YAML: {error}") from None
    return parse_label_review(document, str(path))


def pending_entries_text(suspects: Iterable[Mapping[str, Any]]) -> str:
    """YAML block entries for `suspects` (sha256, original_path, audit), decision pending."""
    text = ""
    for suspect in suspects:
        entry = {
            "sha256": suspect["sha256"],
            "decision": "pending",
            "original_path": suspect["original_path"],
            "audit": suspect["audit"],
        }
        block = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=10_000)
        text += block.replace("  decision: pending\n", f"  decision: pending  # {DECISION_HINT}\n")
    return text


def append_pending(path: Path, suspects: Sequence[Mapping[str, Any]]) -> LabelReview:
    """Append `suspects` to the review file as pending entries, atomically; the new review.

    What the file holds already (entries, decisions, comments, order) is kept byte for byte.
    """
    existing = path.read_text(encoding="utf-8") if path.is_file() else HEADER
    before = read_label_review(path) if path.is_file() else LabelReview(str(path), ())
    separator = "" if not existing or existing.endswith("\n") else "\n"
    text = existing + separator + pending_entries_text(suspects)
    try:
        after = parse_label_review(yaml.safe_load(text), str(path))
    except (InputError, yaml.YAMLError) as error:
        raise InputError(f"Cannot append to {path}: {error}") from None
    if after.decisions[: len(before.decisions)] != before.decisions:
        raise InputError(
            f"Cannot append to {path}: it is not written as a YAML block list (`- sha256: ...` "
            "entries, one after the other), so new entries would not join it. Rewrite it so."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, path)
    return after


class LabelReviewDataset(AbstractDataset[LabelReview, LabelReview]):
    """The review file as a checked `LabelReview` (read-only: people and `catdog review` write
    it). A missing file holds no decisions."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> LabelReview:
        # Kedro hands the dataset an absolute path: messages name it from the project's root.
        inside = self._filepath.is_relative_to(Path.cwd())
        return read_label_review(
            self._filepath.relative_to(Path.cwd()) if inside else self._filepath
        )

    def save(self, data: LabelReview) -> None:
        raise DatasetError(f"{self._filepath} is written by people and `catdog review` only.")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
