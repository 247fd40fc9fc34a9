"""Errors raised on purpose reach the user as a message; bugs keep their traceback."""

from __future__ import annotations

import json

import pytest
from kedro.io import DatasetError

from catdog_pipeline.core.errors import CatdogError, InputError
from catdog_pipeline.errors import UserErrorHook, raised_on_purpose
from catdog_pipeline.pipelines.split.nodes import split_fractions
from catdog_pipeline.sources import SourceError


def test_a_parameter_error_from_a_node_is_ours() -> None:
    with pytest.raises(ValueError) as raised:
        split_fractions({"fractions": {"train": 1.5, "val": 0, "test": 0}})
    assert raised_on_purpose(raised.value) is raised.value


def test_an_error_from_inside_a_library_is_not_ours() -> None:
    with pytest.raises(ValueError) as raised:
        json.loads("{not json")
    assert raised_on_purpose(raised.value) is None


def test_a_bug_inside_the_package_keeps_its_traceback() -> None:
    # A KeyError from a missing key is a bug (the params check runs first), not a message.
    with pytest.raises(KeyError) as raised:
        split_fractions({})
    assert raised_on_purpose(raised.value) is None


def test_the_projects_error_types_are_also_the_builtin_ones() -> None:
    assert issubclass(InputError, CatdogError) and issubclass(InputError, ValueError)
    assert issubclass(SourceError, CatdogError)


def test_a_wrapped_error_is_found_through_its_cause() -> None:
    with pytest.raises(ValueError) as inner:
        split_fractions({"fractions": {"train": 0.5}})
    wrapper = DatasetError("Failed while running the node")
    wrapper.__cause__ = inner.value
    assert raised_on_purpose(wrapper) is inner.value


def test_the_hook_exits_with_the_message_alone(caplog, monkeypatch) -> None:
    monkeypatch.delenv("CATDOG_TRACEBACK", raising=False)
    with pytest.raises(ValueError) as raised:
        split_fractions({"fractions": {"train": 0.5}})
    with pytest.raises(SystemExit) as exited:
        UserErrorHook().on_pipeline_error(error=raised.value)
    assert exited.value.code == 1
    assert "split.fractions must name exactly" in caplog.text


def test_the_hook_leaves_bugs_and_debugging_alone(monkeypatch) -> None:
    UserErrorHook().on_pipeline_error(error=ZeroDivisionError("a bug"))
    monkeypatch.setenv("CATDOG_TRACEBACK", "1")
    with pytest.raises(ValueError) as raised:
        split_fractions({"fractions": {"train": 0.5}})
    UserErrorHook().on_pipeline_error(error=raised.value)
