"""Which part of a multi-worker training this process plays, read from TF_CONFIG.

`train.distribution: multi_worker` trains on every task of the cluster that the TF_CONFIG
environment variable describes, in TensorFlow's own format
(https://www.tensorflow.org/guide/distributed_training#setting_up_the_tf_config_environment_variable).
The chief (the `chief` task, or `worker` 0 when there is none, as TensorFlow decides) writes
the model, the history and the MLflow run; the other workers write nothing shared. The train
node, the project settings and the Kedro hook that keep a non-chief's outputs to itself all
ask this module. TensorFlow is not imported here: settings and hooks load for every `kedro run`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catdog_pipeline.core.errors import InputError

TF_CONFIG_ENV = "TF_CONFIG"
TRAINING_TASKS = ("chief", "worker")
EXAMPLE = (
    '{"cluster": {"worker": ["host-a:12345", "host-b:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)
HOW_TO_SET = (
    f"Set {TF_CONFIG_ENV} on every worker to the cluster's addresses and that worker's own "
    f"task, e.g. {TF_CONFIG_ENV}='{EXAMPLE}' on the first host and index 1 on the second "
    "(README: Multi-worker training), or set train.distribution to none or mirrored."
)


@dataclass(frozen=True)
class WorkerRole:
    """One training task of the cluster: its TF_CONFIG task and its place among the workers."""

    task_type: str
    task_index: int
    workers: int  # the tasks that train: the chief (if any) and every worker
    worker_index: int  # 0 .. workers - 1: the chief first, then the workers in order

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0

    def __str__(self) -> str:
        chief = ", the chief" if self.is_chief else ""
        return (
            f"{self.task_type} {self.task_index} ({self.worker_index + 1} of {self.workers}{chief})"
        )


def worker_role(environ: Mapping[str, str] | None = None) -> WorkerRole:
    """This process's role from TF_CONFIG; InputError naming TF_CONFIG if it is unset or wrong."""
    text = (os.environ if environ is None else environ).get(TF_CONFIG_ENV, "").strip()
    if not text:
        raise InputError(
            f"train.distribution is multi_worker but the environment variable {TF_CONFIG_ENV} "
            f"is not set. {HOW_TO_SET}"
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{TF_CONFIG_ENV} is not valid JSON ({error}). {HOW_TO_SET}") from None
    return _role(config)


def names_non_chief_worker(environ: Mapping[str, str] | None = None) -> bool:
    """Whether TF_CONFIG names this process a worker other than the chief (False if unset or
    unreadable: whatever needs it then says what is wrong)."""
    try:
        return not worker_role(environ).is_chief
    except InputError:
        return False


def _role(config: Any) -> WorkerRole:
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise InputError(f"{TF_CONFIG_ENV} needs a `cluster` and a `task` object. {HOW_TO_SET}")
    for name, addresses in cluster.items():
        if name not in TRAINING_TASKS:
            raise InputError(
                f"{TF_CONFIG_ENV} has a '{name}' task: MultiWorkerMirroredStrategy trains on "
                f"{' and '.join(TRAINING_TASKS)} tasks only. {HOW_TO_SET}"
            )
        if not isinstance(addresses, list) or not addresses:
            raise InputError(
                f"{TF_CONFIG_ENV} cluster.{name} must be a list of host:port addresses. "
                f"{HOW_TO_SET}"
            )
    if len(cluster.get("chief", [])) > 1:
        raise InputError(f"{TF_CONFIG_ENV} names {len(cluster['chief'])} chiefs; at most one.")
    task_type, index = task.get("type"), task.get("index", 0)
    if (
        task_type not in cluster
        or not isinstance(index, int)
        or not 0 <= index < len(cluster[task_type])
    ):
        raise InputError(
            f"{TF_CONFIG_ENV} task {task!r} is not one of its cluster's tasks "
            f"{ {name: len(addresses) for name, addresses in cluster.items()} }: "
            f"task.type must name a list of `cluster` and task.index a position in it. {HOW_TO_SET}"
        )
    chiefs = len(cluster.get("chief", []))
    worker_index = index if task_type == "chief" else chiefs + index
    return WorkerRole(task_type, index, chiefs + len(cluster.get("worker", [])), worker_index)
