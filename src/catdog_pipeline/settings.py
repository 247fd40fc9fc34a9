"""Kedro project settings: configuration only, no logic."""

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader
from omegaconf.resolvers import oc

from catdog_pipeline.console import ConsoleHook
from catdog_pipeline.core.cluster import names_non_chief_worker
from catdog_pipeline.errors import UserErrorHook
from catdog_pipeline.hooks import RunProvenanceHook, TrainingRunHook
from catdog_pipeline.mlflow_ui import artifact_location
from catdog_pipeline.params_check import ParamsCheckHook
from catdog_pipeline.run_liveness import RunLivenessHook
from catdog_pipeline.staging import StagingHook
from catdog_pipeline.workers import NonChiefWorkerHook

# Kedro's telemetry would try to reach the network on every command; this project never asks.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

CONFIG_LOADER_CLASS = OmegaConfigLoader
# conf/base/parameters.yml is a symlink to params.yaml, so Kedro and DVC read the same values.
# oc.env: conf/base/mlflow.yml reads MLFLOW_TRACKING_URI (Kedro allows it in credentials only);
# catdog.artifact_location: where a new experiment of that store keeps artifacts (Kedro runs in
# the project folder).
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {
        "oc.env": oc.env,
        "catdog.artifact_location": lambda uri: artifact_location(uri, Path.cwd()),
    },
    # Kedro skips config whose *resolved* path has a dot-folder in it; the symlink resolves to
    # params.yaml outside conf/, which in `dvc exp run --queue`'s .dvc/tmp/exps/... workspace
    # would make every parameter vanish. conf/ holds no hidden files to skip.
    "ignore_hidden": False,
}

# kedro-mlflow's MlflowHook registers itself; these add what it cannot know (see hooks.py).
# ConsoleHook: Rich log lines in a terminal, plain unwrapped ones when piped (conf/logging.yml).
# ParamsCheckHook: all of params.yaml is checked against core/params_schema.py first.
# StagingHook: output folders are built in data/.staging, cleared after a crash (staging.py).
# RunLivenessHook: MLflow runs left RUNNING by a killed process are marked FAILED.
# NonChiefWorkerHook: a multi-worker training's non-chief workers write nothing (workers.py).
HOOKS = (
    ConsoleHook(),
    ParamsCheckHook(),
    StagingHook(),
    TrainingRunHook(),
    RunProvenanceHook(),
    RunLivenessHook(),
    NonChiefWorkerHook(),
    UserErrorHook(),
)

# A multi-worker training's worker other than the chief (TF_CONFIG) opens no MLflow store.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",) if names_non_chief_worker() else ()
