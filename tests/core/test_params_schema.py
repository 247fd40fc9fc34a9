"""params.yaml's schema: the project's own file passes; each bad value is named and explained."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from catdog_pipeline.core.params_schema import ParamsError, validate_params

PROJECT_PARAMS = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())


def with_value(dotted: str, value) -> dict:
    params = copy.deepcopy(PROJECT_PARAMS)
    *sections, key = dotted.split(".")
    target = params
    for section in sections:
        target = target[section]
    target[key] = value
    return params


def test_the_projects_params_are_valid() -> None:
    parsed = validate_params(PROJECT_PARAMS)

    assert parsed.train.architecture == "transfer"
    assert parsed.image.size == (224, 224)


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        ("split.seed", "abc", "split.seed = 'abc': Input should be a valid integer"),
        ("image.size", [100000, 100000], "image.size[0] = 100000: Input should be less than"),
        ("image.max_pixels", 0, "image.max_pixels = 0: Input should be greater than or equal"),
        ("clean.workers", -1, "clean.workers = -1: Input should be greater than or equal to 0"),
        ("clean.near_duplicate_distance", 64, "clean.near_duplicate_distance = 64: "),
        ("train.epochs", 0, "train.epochs = 0: Input should be greater than or equal to 1"),
        ("train.batch_size", 0, "train.batch_size = 0: Input should be greater than or equal"),
        ("train.input_resize", [0, 0], "train.input_resize[0] = 0: Input should be greater"),
        ("train.architecture", "resnet", "train.architecture = 'resnet': Input should be"),
        ("train.transfer.weights", None, "train.transfer: freeze_backbone is true but weights"),
        ("split.fractions", {"train": 0.8, "val": 0.1, "test": 0.5}, "must sum to 1"),
        ("split.fractions", {"train": 1.0, "val": 0.0, "test": 0.0}, "train and val must be"),
        ("classes", {"cat": ["cat"], "dog": ["dog"], "fox": ["fox"]}, "exactly two classes"),
        ("classes", {"cat": ["pet"], "dog": ["pet"]}, "a word may mean only one class"),
        ("evaluate.threshold", 1.0, "evaluate.threshold = 1.0: Input should be less than 1"),
        ("ingest.sha256", "abc", "ingest.sha256 = 'abc': 'abc' is not a sha256 (64 hex"),
        ("ingest.sha256", ["a" * 64], "ingest.sha256 = ['aaa"),
        ("ingest.source", [], "ingest.source = []: must be a Google Drive link"),
        ("ingest.source", ["a.zip", " "], "ingest.source = ['a.zip', ' ']: entry 2 of 2 (' ')"),
        (
            "ingest.source",
            ["a.zip", "b", "a.zip"],
            "ingest.source = ['a.zip', 'b', 'a.zip']: lists",
        ),
        ("clean.executor", "ray", "clean.executor = 'ray': Input should be 'processes' or 'dask'"),
        ("clean.dask_scheduler", "", "clean.dask_scheduler = '': String should have at least 1"),
        ("train.optimizer", "adagrad", "train.optimizer = 'adagrad': Input should be 'adam'"),
        ("serve.formats", ["HEIC"], "serve.formats[0] = 'HEIC': Input should be 'JPEG'"),
        ("serve.capture.max_files", 0, "serve.capture.max_files = 0: Input should be greater"),
        ("train.mixed_precision", "float16", "train.mixed_precision = 'float16': Input should"),
        ("promote.metric", "f1", "promote.metric = 'f1': Input should be 'log_loss' or"),
        ("promote.min_gate_images", 0, "promote.min_gate_images = 0: Input should be greater"),
        ("audit.folds", 1, "audit.folds = 1: Input should be greater than or equal to 2"),
        ("audit.suspects", -1, "audit.suspects = -1: Input should be greater than or equal"),
    ],
)
def test_a_bad_value_is_refused_with_its_key_value_and_rule(dotted, value, expected) -> None:
    with pytest.raises(ParamsError) as refused:
        validate_params(with_value(dotted, value))

    assert expected in str(refused.value)
    assert "params.yaml" in str(refused.value)


def test_a_list_of_sources_takes_one_checksum_each_in_order() -> None:
    params = with_value("ingest.source", ["base.zip", "https://example.org/more.zip"])
    params["ingest"]["sha256"] = ["a" * 64, None]
    assert validate_params(params).ingest.sha256 == ["a" * 64, None]

    params["ingest"]["sha256"] = ["a" * 64]
    with pytest.raises(ParamsError, match=r"ingest.sha256 = \['a+'\]: has 1 entries for 2 sources"):
        validate_params(params)
    params["ingest"]["sha256"] = "a" * 64
    with pytest.raises(
        ParamsError, match="ingest.sha256 = 'a+': is one checksum but ingest.source"
    ):
        validate_params(params)


def test_every_problem_is_listed_at_once_with_typos_and_missing_keys() -> None:
    params = with_value("train.epochs", 0)
    params["train"]["epoch"] = 3
    del params["evaluate"]["threshold"]

    with pytest.raises(ParamsError, match="3 problem") as refused:
        validate_params(params)

    message = str(refused.value)
    assert "train.epoch is not a known key (a typo?)" in message
    assert "evaluate.threshold is missing" in message


def test_the_served_formats_are_the_ones_the_service_knows() -> None:
    from catdog_pipeline.core.params_schema import SERVED_FORMATS
    from catdog_pipeline.serving.limits import MEDIA_TYPES

    assert set(SERVED_FORMATS) == set(MEDIA_TYPES)
