"""TF_CONFIG read into a worker's role: who is the chief, and clear errors for a wrong value."""

from __future__ import annotations

import json

import pytest

from catdog_pipeline.core.cluster import names_non_chief_worker, worker_role
from catdog_pipeline.core.errors import InputError

WORKERS = ["10.0.0.1:2222", "10.0.0.2:2222", "10.0.0.3:2222"]


def tf_config(cluster: dict, task_type: str, index: int) -> dict[str, str]:
    return {
        "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})
    }


def test_worker_0_is_the_chief_of_a_cluster_without_one() -> None:
    roles = [worker_role(tf_config({"worker": WORKERS}, "worker", i)) for i in range(3)]

    assert [role.is_chief for role in roles] == [True, False, False]
    assert [role.worker_index for role in roles] == [0, 1, 2]
    assert {role.workers for role in roles} == {3}


def test_a_chief_task_is_the_chief_and_the_workers_come_after_it() -> None:
    cluster = {"chief": ["10.0.0.9:2222"], "worker": WORKERS[:2]}

    chief = worker_role(tf_config(cluster, "chief", 0))
    first_worker = worker_role(tf_config(cluster, "worker", 0))

    assert chief.is_chief and chief.worker_index == 0 and chief.workers == 3
    assert not first_worker.is_chief and first_worker.worker_index == 1


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({}, "TF_CONFIG is not set"),
        ({"TF_CONFIG": "{cluster:"}, "TF_CONFIG is not valid JSON"),
        ({"TF_CONFIG": '{"cluster": {"worker": []}}'}, "needs a `cluster` and a `task`"),
        (tf_config({"worker": WORKERS}, "worker", 3), "is not one of its cluster's tasks"),
        (tf_config({"worker": WORKERS, "ps": WORKERS[:1]}, "worker", 0), "has a 'ps' task"),
        (tf_config({"worker": "10.0.0.1:2222"}, "worker", 0), "must be a list of host:port"),
    ],
)
def test_a_missing_or_wrong_tf_config_says_what_to_set(environ, complaint) -> None:
    with pytest.raises(InputError, match=complaint) as raised:
        worker_role(environ)

    assert "README: Multi-worker training" in str(raised.value)


def test_only_a_readable_tf_config_naming_another_worker_is_a_non_chief() -> None:
    assert names_non_chief_worker(tf_config({"worker": WORKERS}, "worker", 1))
    assert not names_non_chief_worker(tf_config({"worker": WORKERS}, "worker", 0))
    assert not names_non_chief_worker({})
    assert not names_non_chief_worker({"TF_CONFIG": "{cluster:"})  # the train node says why
