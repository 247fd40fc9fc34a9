"""The schema of params.yaml: every key, its type and its allowed values, checked once.

`validate_params` runs before any stage (ParamsHook) and in `catdog predict | serve | check`,
so a bad value stops everything with one message per problem that names the dotted key, the
value and what is allowed, instead of failing deep inside a library halfway through a run.
The choices listed here are the ones the stages offer; the stages import them from here.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from catdog_pipeline.core.errors import InputError

ARCHITECTURES = ("transfer", "simple_cnn", "xception_mini")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
LR_SCHEDULES = ("constant", "cosine")
DISTRIBUTIONS = ("none", "mirrored", "multi_worker")  # train.distribution
BACKBONES = (
    "EfficientNetLite0",
    "EfficientNetLite1",
    "EfficientNetLite2",
    "MobileNetV3Small",
    "MobileNetV3Large",
    "EfficientNetB0",
    "EfficientNetV2B0",
)
RESIZE_MODES = ("pad", "center_crop")
SERVED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
PROMOTION_METRICS = ("log_loss", "accuracy")
CLEAN_EXECUTORS = ("processes", "dask")
ONE_SOURCE = "a Google Drive link, an http(s) URL, or a local archive or folder"
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# A near-duplicate distance past this calls unrelated photos duplicates: random 64-bit
# perceptual hashes differ in ~32 bits, and photos of one scene in under ~10.
MAX_NEAR_DUPLICATE_DISTANCE = 16
DOCUMENTED_IN = "params.yaml (the comment beside each key) and the README"

Side = Annotated[int, Field(ge=8, le=4096)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Dropout = Annotated[float, Field(ge=0.0, lt=1.0)]
Positive = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]


class ParamsError(InputError):
    """params.yaml holds values the pipeline cannot run with; the message lists each."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class ImageParams(_Section):
    size: tuple[Side, Side]
    resize_mode: Literal[RESIZE_MODES]  # type: ignore[valid-type]
    max_pixels: Annotated[int, Field(ge=1, le=1_000_000_000)]


class IngestParams(_Section):
    source: str | list[str]
    sha256: str | list[str | None] | None
    max_uncompressed_bytes: Positive
    max_download_bytes: Positive
    download_timeout_s: Annotated[float, Field(gt=0)]

    @field_validator("source", mode="before")
    @classmethod
    def _one_source_or_distinct_ones(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError(f"is empty: give {ONE_SOURCE}, or a list of them")
            return value
        if not isinstance(value, list) or not value:
            raise ValueError(f"must be {ONE_SOURCE}, or a non-empty list of them")
        for index, item in enumerate(value):
            if not isinstance(item, str) or not item.strip():
                raise ValueError(
                    f"entry {index + 1} of {len(value)} ({item!r}) is not a source: give "
                    f"{ONE_SOURCE}"
                )
        stripped = [item.strip() for item in value]
        repeated = next((item for item in stripped if stripped.count(item) > 1), None)
        if repeated is not None:
            raise ValueError(f"lists {repeated!r} more than once")
        return value

    @field_validator("sha256", mode="before")
    @classmethod
    def _one_checksum_per_source(cls, value: Any, info: ValidationInfo) -> Any:
        sources = info.data.get("source")  # absent when it failed its own check
        if value is None:
            return value
        if isinstance(value, str):
            if isinstance(sources, list):
                raise ValueError(
                    f"is one checksum but ingest.source lists {len(sources)} sources: give a "
                    "list with one checksum per source, in order (null for none), or null"
                )
            checksums = [value]
        elif isinstance(value, list):
            if sources is not None and not isinstance(sources, list):
                raise ValueError("is a list but ingest.source is one source: give one checksum")
            if isinstance(sources, list) and len(value) != len(sources):
                raise ValueError(
                    f"has {len(value)} entries for {len(sources)} sources: give one per "
                    "source, in the order of ingest.source (null for none)"
                )
            checksums = [item for item in value if item is not None]
        else:
            raise ValueError("must be a sha256, a list of them (one per source) or null")
        for checksum in checksums:
            if not isinstance(checksum, str) or not SHA256.fullmatch(checksum):
                raise ValueError(f"{checksum!r} is not a sha256 (64 hex digits)")
        return value


class CleanParams(_Section):
    min_side: Annotated[int, Field(ge=1, le=4096)]
    near_duplicate_distance: Annotated[int, Field(ge=-1, le=MAX_NEAR_DUPLICATE_DISTANCE)]
    jpeg_quality: Annotated[int, Field(ge=1, le=100)]
    workers: Annotated[int, Field(ge=0, le=256)]
    executor: Literal[CLEAN_EXECUTORS]  # type: ignore[valid-type]
    dask_scheduler: Annotated[str, Field(min_length=1)] | None


class SplitParams(_Section):
    fractions: dict[Literal["train", "val", "test"], Fraction]
    seed: Count

    @field_validator("fractions")
    @classmethod
    def _three_parts_summing_to_one(cls, fractions: dict[str, float]) -> dict[str, float]:
        missing = {"train", "val", "test"} - set(fractions)
        if missing:
            raise ValueError(f"needs train, val and test; {sorted(missing)} missing")
        if not math.isclose(sum(fractions.values()), 1.0, abs_tol=1e-6):
            raise ValueError(f"must sum to 1, they sum to {sum(fractions.values()):g}")
        if min(fractions["train"], fractions["val"]) <= 0:
            raise ValueError("train and val must be above 0 (early stopping watches val)")
        return fractions


class AuditParams(_Section):
    folds: Annotated[int, Field(ge=2, le=100)]
    seed: Count
    suspects: Count
    outliers: Count


class AugmentationParams(_Section):
    horizontal_flip: bool
    rotation: Fraction
    zoom: Dropout
    contrast: Fraction
    translation: Dropout


class SimpleCnnParams(_Section):
    filters: Annotated[list[Positive], Field(min_length=1)]
    dense_units: Count
    dropout: Dropout


class XceptionMiniParams(_Section):
    entry_filters: Positive
    block_filters: Annotated[list[Positive], Field(min_length=1)]
    exit_filters: Positive
    dropout: Dropout


class TransferParams(_Section):
    backbone: Literal[BACKBONES]  # type: ignore[valid-type]
    weights: Annotated[str, Field(min_length=1)] | None
    freeze_backbone: bool
    dropout: Dropout
    fine_tune_blocks: Count
    fine_tune_epochs: Count
    fine_tune_learning_rate: Annotated[float, Field(gt=0, le=1)]

    @model_validator(mode="after")
    def _frozen_needs_weights(self) -> TransferParams:
        if self.weights is None and self.freeze_backbone:
            raise ValueError(
                "freeze_backbone is true but weights is null: a frozen random backbone learns "
                "nothing; give weights (package) or set freeze_backbone: false"
            )
        return self


class TrainParams(_Section):
    architecture: Literal[ARCHITECTURES]  # type: ignore[valid-type]
    input_resize: tuple[Side, Side] | None
    epochs: Annotated[int, Field(ge=1, le=10_000)]
    batch_size: Annotated[int, Field(ge=1, le=4096)]
    optimizer: Literal[OPTIMIZERS]  # type: ignore[valid-type]
    learning_rate: Annotated[float, Field(gt=0, le=10)]
    lr_schedule: Literal[LR_SCHEDULES]  # type: ignore[valid-type]
    warmup_epochs: Count
    ema_momentum: Annotated[float, Field(gt=0, lt=1)] | None
    early_stopping_patience: Count
    class_weight: Literal["balanced"] | None
    label_smoothing: Dropout
    mixed_precision: Literal["bfloat16"] | None
    seed: Count
    deterministic: bool
    distribution: Literal[DISTRIBUTIONS]  # type: ignore[valid-type]
    test_time_augmentation: Literal["flip"] | None
    augmentation: AugmentationParams
    simple_cnn: SimpleCnnParams
    xception_mini: XceptionMiniParams
    transfer: TransferParams

    @model_validator(mode="after")
    def _warmup_within_epochs(self) -> TrainParams:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) must be fewer than epochs ({self.epochs}): "
                "the learning rate would never reach learning_rate"
            )
        return self


class EvaluateParams(_Section):
    threshold: Annotated[float, Field(gt=0, lt=1)]
    batch_size: Annotated[int, Field(ge=1, le=4096)]


class PromoteParams(_Section):
    metric: Literal[PROMOTION_METRICS]  # type: ignore[valid-type]
    min_improvement: Annotated[float, Field(ge=0)]
    accuracy_tolerance: Fraction
    min_gate_images: Positive


class CaptureParams(_Section):
    folder: Annotated[str, Field(min_length=1)] | None
    max_files: Positive
    max_bytes: Positive


class ServeParams(_Section):
    max_body_bytes: Positive
    max_pixels: Positive
    formats: Annotated[list[Literal[SERVED_FORMATS]], Field(min_length=1)]  # type: ignore[valid-type]
    max_files: Annotated[int, Field(ge=1, le=1024)]
    batch_size: Annotated[int, Field(ge=1, le=4096)]
    reload_seconds: Annotated[float, Field(ge=0)]
    uncertain_below: Annotated[float, Field(gt=0.5, le=1)]
    drift_window: Positive
    drift_reference: Annotated[str, Field(min_length=1)] | None
    capture: CaptureParams


class ReportParams(_Section):
    gallery_size: Count
    gradcam_examples: Count
    thumbnail_size: Annotated[int, Field(ge=16, le=1024)]
    data_quality_thumbnails: Count
    calibration_bins: Annotated[int, Field(ge=2, le=100)]


class Params(BaseModel):
    """All of params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: dict[str, Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]]
    image: ImageParams
    ingest: IngestParams
    clean: CleanParams
    split: SplitParams
    audit: AuditParams
    train: TrainParams
    evaluate: EvaluateParams
    report: ReportParams
    promote: PromoteParams
    serve: ServeParams

    @field_validator("classes")
    @classmethod
    def _two_classes_with_distinct_words(cls, classes: dict[str, list[str]]) -> dict:
        if len(classes) != 2:
            raise ValueError(
                f"must name exactly two classes (the model has one sigmoid output), got "
                f"{list(classes)}"
            )
        words = [word.lower() for names in classes.values() for word in names]
        if len(words) != len(set(words)):
            raise ValueError("a word may mean only one class")
        return classes


def validate_params(params: dict[str, Any]) -> Params:
    """The parsed params, or ParamsError listing every bad key with its value and the rule."""
    try:
        return Params.model_validate(params)
    except ValidationError as error:
        problems = [_describe(problem) for problem in error.errors()]
        raise ParamsError(_problems_message(problems)) from None


def _problems_message(problems: list[str]) -> str:
    return (
        f"params.yaml has {len(problems)} problem(s):\n"
        + "\n".join(f"  - {problem}" for problem in problems)
        + f"\nEach key is documented in {DOCUMENTED_IN}."
    )


def validate_sections(params: dict[str, Any], sections: tuple[str, ...]) -> None:
    """Check only `sections` of params.yaml (what a command reads); ParamsError as above."""
    problems = []
    for section in sections:
        model = Params.model_fields[section].annotation
        if not isinstance(params.get(section), dict):
            problems.append(f"{section} is missing")
            continue
        try:
            model.model_validate(params[section])
        except ValidationError as error:
            problems += [_describe(p, prefix=(section,)) for p in error.errors()]
    if problems:
        raise ParamsError(_problems_message(problems))


def _describe(problem: Any, prefix: tuple[str, ...] = ()) -> str:
    """`train.epochs = 0: Input should be greater than or equal to 1` and the like."""
    key = ""
    for part in (*prefix, *problem["loc"]):
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    if problem["type"] == "missing":
        return f"{key} is missing"
    if problem["type"] == "extra_forbidden":
        return f"{key} is not a known key (a typo?)"
    message = problem["msg"].removeprefix("Value error, ")
    if isinstance(problem["input"], dict):  # a rule across keys: the keys are in the message
        return f"{key}: {message}"
    return f"{key} = {problem['input']!r}: {message}"
