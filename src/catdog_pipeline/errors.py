"""Turn the errors this project raises on purpose into a message, not a traceback.

Nodes and datasets check their inputs and raise a `CatdogError` (core/errors.py; SourceError,
ParamsError and the rest are ones) with a message that names the file or parameter and what to
do; Kedro's DatasetError counts too when this package's datasets raise it.
Kedro would print such an error under a full-screen traceback from deep inside its runner;
`UserErrorHook` prints the message alone and exits with status 1. Errors raised anywhere else
(a bug, a library failing) keep their traceback, and so does every error when CATDOG_TRACEBACK=1.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import DatasetError

from catdog_pipeline.core.errors import CatdogError

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent


def raised_on_purpose(error: BaseException) -> BaseException | None:
    """The error in `error`'s cause chain that this package raised deliberately, if any."""
    while error is not None:
        frame = error.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        origin = Path(frame.tb_frame.f_code.co_filename).resolve() if frame else None
        ours = origin is not None and origin.is_relative_to(PACKAGE_DIR)
        if isinstance(error, CatdogError) or (isinstance(error, DatasetError) and ours):
            return error
        error = error.__cause__
    return None


class UserErrorHook:
    """On a pipeline error of the user's making, log its message and exit 1, no traceback."""

    @hook_impl(trylast=True)  # after kedro-mlflow has closed its run as failed
    def on_pipeline_error(self, error: Exception, **_: Any) -> None:
        cause = raised_on_purpose(error)
        if cause is None or os.environ.get("CATDOG_TRACEBACK"):
            return
        # markup off: a Rich handler would read `[height, width]` or a path's `[/x]` as tags.
        logger.error(
            "%s\n(CATDOG_TRACEBACK=1 shows the full traceback.)", cause, extra={"markup": False}
        )
        raise SystemExit(1)
