"""Kedro project settings: configuration only, no logic."""

import os

from kedro.config import OmegaConfigLoader

# Kedro's telemetry would try to reach the network on every command; this project never asks.
os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")

CONFIG_LOADER_CLASS = OmegaConfigLoader
# conf/base/parameters.yml is a symlink to params.yaml, so Kedro and DVC read the same values.
CONFIG_LOADER_ARGS = {"base_env": "base", "default_run_env": "local"}
