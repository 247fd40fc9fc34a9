"""The MLflow model registry as catalog datasets: the champion, the versions, the alias.

- `ChampionModelDataset` (read): the version the alias names, its Keras model and model card;
  {} when the registered model or the alias does not exist yet (Kedro passes no None).
- `RegisteredVersionsDataset` (read): every version with the run that logged it and the run
  that trained it (a re-evaluation logs into a new run tagged `training_run_id`).
- `ChampionAliasDataset` (write): moves the alias when the decision says so and appends the
  move to the registered model's tags `<alias>.history.<n>`, so which version was champion
  when can be read back (`alias_history`).

The tracking store is MLflow's current one (kedro-mlflow sets it from conf/base/mlflow.yml).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from kedro.io import AbstractDataset, DatasetError

MOVES = ("promoted", "first_champion")
VERSION_COLUMNS = ["version", "run_id", "training_run_id"]


class ChampionModelDataset(AbstractDataset[None, dict[str, Any]]):
    """Read-only: {"version", "model", "model_card"} of `models:/<name>@<alias>`, or {}."""

    def __init__(self, registered_model_name: str = "catdog", alias: str = "champion") -> None:
        self._name, self._alias = registered_model_name, alias

    def load(self) -> dict[str, Any]:
        import keras
        import mlflow

        version = alias_version(mlflow.MlflowClient(), self._name, self._alias)
        if version is None:
            return {}
        folder = Path(mlflow.artifacts.download_artifacts(f"models:/{self._name}/{version}"))
        model_path = _only(folder, "*.keras")
        card = json.loads(_only(folder, "model_card.json").read_text())
        model = keras.saving.load_model(model_path, compile=False)
        return {"version": version, "model": model, "model_card": card}

    def save(self, data: None) -> None:
        raise DatasetError("champion_model is read-only: the promote stage moves the alias")

    def _describe(self) -> dict[str, Any]:
        return {"registered_model_name": self._name, "alias": self._alias}


class RegisteredVersionsDataset(AbstractDataset[None, pd.DataFrame]):
    """Read-only: one row per version of the registered model: version, run_id, training_run_id."""

    def __init__(self, registered_model_name: str = "catdog") -> None:
        self._name = registered_model_name

    def load(self) -> pd.DataFrame:
        import mlflow

        client = mlflow.MlflowClient()
        rows = []
        for version in client.search_model_versions(f"name = '{self._name}'"):
            tags = client.get_run(version.run_id).data.tags if version.run_id else {}
            trained_in = tags.get("training_run_id", version.run_id)
            rows.append((str(version.version), version.run_id, trained_in))
        return pd.DataFrame(rows, columns=VERSION_COLUMNS)

    def save(self, data: pd.DataFrame) -> None:
        raise DatasetError("registered_versions is read-only: the evaluate stage registers")

    def _describe(self) -> dict[str, Any]:
        return {"registered_model_name": self._name}


class ChampionAliasDataset(AbstractDataset[Mapping[str, Any], None]):
    """Write-only: point the alias at the challenger when the promotion record says so."""

    def __init__(self, registered_model_name: str = "catdog", alias: str = "champion") -> None:
        self._name, self._alias = registered_model_name, alias

    def save(self, data: Mapping[str, Any]) -> None:
        import mlflow

        if data["decision"] not in MOVES:
            return
        client = mlflow.MlflowClient()
        move_alias(client, self._name, self._alias, str(data["challenger"]["version"]), data)

    def load(self) -> None:
        raise DatasetError("champion_alias is write-only: read it with alias_history()")

    def _describe(self) -> dict[str, Any]:
        return {"registered_model_name": self._name, "alias": self._alias}


def alias_version(client: Any, name: str, alias: str) -> str | None:
    """The version `alias` names, or None if the model or the alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def move_alias(client: Any, name: str, alias: str, version: str, record: Mapping[str, Any]) -> None:
    """Point `alias` at `version`, and record the move in the registered model's tags."""
    previous = alias_version(client, name, alias)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    client.set_registered_model_alias(name, alias, version)
    entry = {
        "version": version,
        "previous": previous,
        "since": now,
        "decision": record.get("decision"),
        "reason": record.get("reason"),
    }
    history = alias_history(client, name, alias)
    client.set_registered_model_tag(
        name, f"{alias}.history.{len(history) + 1:04d}", json.dumps(entry)
    )
    client.set_model_version_tag(name, version, f"{alias}.since", now)
    if previous is not None:
        client.set_model_version_tag(name, previous, f"{alias}.until", now)


def alias_history(client: Any, name: str, alias: str = "champion") -> list[dict[str, Any]]:
    """Every move of `alias`, oldest first: version, previous, since, decision, reason."""
    tags = client.get_registered_model(name).tags
    prefix = f"{alias}.history."
    return [json.loads(tags[key]) for key in sorted(tags) if key.startswith(prefix)]


def _only(folder: Path, pattern: str) -> Path:
    matches = sorted(folder.rglob(pattern))
    if len(matches) != 1:
        raise DatasetError(f"{folder} should hold exactly one {pattern}, found {len(matches)}")
    return matches[0]
