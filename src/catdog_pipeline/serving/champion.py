"""Serve `models:/catdog@champion` when there is one, and follow the alias when it moves.

`catdog serve` and `catdog predict` use the champion when a registry is configured
(MLFLOW_TRACKING_URI, or the project's mlflow.db) and the alias exists, else the local model
file. The service re-reads the alias on `POST /reload` and every `serve.reload_seconds`; a new
version is loaded and warmed up beside the old one, then swapped in one assignment: a request
runs start to end on the model it started with, and none is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from catdog_pipeline.serving.body_limit import error_json
from catdog_pipeline.serving.predictor import Predictor, load_predictor

logger = logging.getLogger(__name__)

REGISTERED_MODEL = "catdog"
ALIAS = "champion"
CHAMPION_URI = f"models:/{REGISTERED_MODEL}@{ALIAS}"
LOCAL_STORE = "mlflow.db"  # conf/base/mlflow.yml's default store, in the project root


def tracking_uri() -> str | None:
    """MLFLOW_TRACKING_URI, else the project's SQLite store if it exists; None: no registry."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{LOCAL_STORE}" if Path(LOCAL_STORE).is_file() else None


def champion_version(uri: str | None = None) -> str | None:
    """The version `catdog@champion` names in the registry at `uri`; None if none."""
    uri = uri or tracking_uri()
    if uri is None:
        return None
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        found = mlflow.MlflowClient(tracking_uri=uri).get_model_version_by_alias(
            REGISTERED_MODEL, ALIAS
        )
    except MlflowException:
        return None
    return str(found.version)


def default_model(local: str) -> str:
    """The champion's URI when a registry has one, else `local` (the train stage's file)."""
    return CHAMPION_URI if champion_version() is not None else local


class ServedModel:
    """The predictor answering requests and, when following the alias, how to replace it."""

    def __init__(
        self,
        predictor: Predictor,
        version: str | None = None,
        resolve: Callable[[], str | None] | None = None,
        load: Callable[[str], Predictor] | None = None,
        poll_seconds: float = 0,
    ) -> None:
        self.predictor, self.version = predictor, version
        self._resolve, self._load = resolve, load
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()

    @property
    def follows_alias(self) -> bool:
        return self._resolve is not None and self._load is not None

    def warm_up(self, predictor: Predictor | None = None) -> None:
        """Trace the model's graph (~1 s) before it takes requests."""
        predictor = predictor or self.predictor
        blank = np.zeros((1, *predictor.card.image_size, 3), dtype=np.uint8)
        predictor.positive_probabilities(blank)

    def reload(self) -> dict[str, Any]:
        """Load the version the alias names now, if it moved; what happened, as JSON."""
        if not self.follows_alias:
            return {"reloaded": False, "version": self.version, "reason": "not following an alias"}
        with self._lock:  # one reload at a time; requests go on meanwhile
            latest = self._resolve()
            if latest is None or latest == self.version:
                return {"reloaded": False, "version": self.version}
            fresh = self._load(latest)
            self.warm_up(fresh)
            previous = self.version
            self.predictor, self.version = fresh, latest
        logger.info("Now serving %s version %s (was %s)", REGISTERED_MODEL, latest, previous)
        return {"reloaded": True, "version": latest, "previous": previous}

    @asynccontextmanager
    async def polling(self) -> AsyncIterator[None]:
        """While open, reload every `poll_seconds` (if following the alias and polling is on)."""
        if not (self.follows_alias and self.poll_seconds > 0):
            yield
            return

        async def poll() -> None:
            while True:
                await asyncio.sleep(self.poll_seconds)
                try:
                    await run_in_threadpool(self.reload)
                except Exception:  # a registry hiccup must not stop the service
                    logger.exception(
                        "Could not reload the champion; still serving v%s", self.version
                    )

        task = asyncio.create_task(poll())
        try:
            yield
        finally:
            task.cancel()


def served_model(model: str, threshold: float, poll_seconds: float) -> ServedModel:
    """The model `--model` names, following the alias when it is the champion's URI."""
    if model != CHAMPION_URI:
        return ServedModel(load_predictor(model, threshold))
    uri = tracking_uri()
    version = champion_version(uri)
    if version is None:  # load_predictor explains a missing alias or registry
        return ServedModel(load_predictor(model, threshold))

    def load(number: str) -> Predictor:
        return load_predictor(f"models:/{REGISTERED_MODEL}/{number}", threshold)

    return ServedModel(
        load(version),
        version,
        resolve=lambda: champion_version(uri),
        load=load,
        poll_seconds=poll_seconds,
    )


def add_reload(app: Any, served: ServedModel) -> None:
    """POST /reload: follow the alias now rather than at the next poll."""

    @app.post("/reload", summary="Load the version catdog@champion names now, if it moved")
    async def reload() -> Any:
        try:
            return await run_in_threadpool(served.reload)
        except Exception as exc:  # the registry or the download failed: keep serving the old
            logger.exception("Reload failed; still serving version %s", served.version)
            detail = f"{type(exc).__name__}: {exc}; still serving version {served.version}"
            return error_json(503, "reload_failed", detail)
