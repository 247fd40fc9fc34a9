"""The project's exception types: an error raised on purpose is a `CatdogError`.

Its message names the file or parameter at fault and says what to do, so `kedro run`, `dvc
repro` and `catdog` print it alone, without a traceback (errors.py). Anything else, a bug or a
library failing, keeps its traceback. The subclasses are also the built-in type they stand
for, so callers can keep catching ValueError or FileNotFoundError.
"""

from __future__ import annotations


class CatdogError(Exception):
    """Bad input, configuration or data, explained in the message."""


class InputError(CatdogError, ValueError):
    """A value (a parameter, a table, an image, a model file) this project cannot use."""


class MissingFileError(CatdogError, FileNotFoundError):
    """A file or folder the project needs is not where it should be."""
