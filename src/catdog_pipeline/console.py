"""Console logging that stays readable: whole lines when piped, Rich colours in a terminal.

conf/logging.yml gives the root logger one plain `logging.StreamHandler` named `console`:
one line per message however long, and nothing read as Rich markup. So `kedro run > log.txt`,
`dvc repro` and CI logs show each message whole (never folded into Rich's ~40-character column
at its default 80-column width), and `[height, width]` or a path containing `[/` prints as
written. In an interactive terminal `ConsoleHook` swaps that handler for Rich's (colours, the
terminal's width), still with markup off. tqdm progress bars write to stderr themselves and are
left alone.
"""

from __future__ import annotations

import logging
from typing import IO, Any

from kedro.framework.hooks import hook_impl

CONSOLE_HANDLER = "console"  # the handler's name in conf/logging.yml


class ConsoleHook:
    """In an interactive terminal, log through Rich (markup off) instead of plain lines."""

    @hook_impl(tryfirst=True)  # the earliest hook of a `kedro run`, before plugins log
    def after_context_created(self, context: Any) -> None:
        use_rich_in_terminals()


def use_rich_in_terminals(logger: logging.Logger | None = None) -> None:
    """Replace `logger`'s (root's) plain `console` handler by Rich's if it writes to a terminal.

    Idempotent, and handlers configured otherwise (KEDRO_LOGGING_CONFIG) are left as they are.
    """
    logger = logger or logging.getLogger()
    for handler in list(logger.handlers):
        if (
            type(handler) is logging.StreamHandler
            and handler.get_name() == CONSOLE_HANDLER
            and _is_terminal(handler.stream)
        ):
            logger.addHandler(rich_handler(handler))
            logger.removeHandler(handler)


def rich_handler(plain: logging.StreamHandler) -> logging.Handler:
    """A Rich handler on `plain`'s stream, level and filters; markup and the path column off."""
    from rich.console import Console
    from rich.logging import RichHandler

    handler = RichHandler(
        console=Console(file=plain.stream),
        markup=False,  # log messages are plain text: square brackets are not style tags
        show_path=False,  # its column would narrow the message's
        rich_tracebacks=True,
        log_time_format="[%X]",
    )
    handler.set_name(CONSOLE_HANDLER)
    handler.setLevel(plain.level)
    for log_filter in plain.filters:
        handler.addFilter(log_filter)
    return handler


def _is_terminal(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
