"""The exception types of `catdog_pipeline.sources`."""

from catdog_pipeline.core.errors import CatdogError


class SourceError(CatdogError, RuntimeError):
    """A failure the user can cause or fix; the message says what happened and what to do."""


class DamagedFileError(SourceError):
    """A fetched file that is unreadable (truncated, corrupt, an HTML page instead of an archive).

    A download cache entry that raises it is discarded, so the next fetch downloads it again.
    """
