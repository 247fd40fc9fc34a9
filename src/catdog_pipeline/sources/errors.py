"""The one exception type of `catdog_pipeline.sources`."""


class SourceError(RuntimeError):
    """A failure the user can cause or fix; the message says what happened and what to do."""
