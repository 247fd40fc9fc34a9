"""Check all of params.yaml against its schema before any stage runs (`core/params_schema.py`)."""

from __future__ import annotations

import logging

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl

from catdog_pipeline.core.params_schema import ParamsError, validate_params

logger = logging.getLogger(__name__)


class ParamsCheckHook:
    """A bad parameter stops `kedro run` (and so `dvc repro`) before anything runs, exit 1."""

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        try:
            validate_params(context.params)
        except ParamsError as error:
            logger.error("%s", error)
            raise SystemExit(1) from None
