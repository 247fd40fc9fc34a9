"""Bounds on one download (size and time), and the messages when one is exceeded."""

from dataclasses import dataclass

from catdog_pipeline.sources.errors import SourceError
from catdog_pipeline.sources.redact import redact_url


@dataclass(frozen=True)
class Limits:
    """Caps on one download: its size in bytes, and seconds from the first request to the end."""

    max_bytes: int | None = None
    timeout_s: float | None = None

    def check_size(self, source: str, size: int, *, declared: bool) -> None:
        """Raise SourceError if `size` bytes (declared by the server, or received) is over."""
        if self.max_bytes is not None and size > self.max_bytes:
            what = f"is {size} bytes" if declared else f"sends more than {self.max_bytes} bytes"
            raise SourceError(
                f"The file at {redact_url(source)} {what}, over ingest.max_download_bytes "
                f"({self.max_bytes} bytes); nothing was kept. Check `ingest.source`, or raise "
                "`ingest.max_download_bytes` in params.yaml if the file is expected to be this "
                "large."
            )

    def too_slow(self, source: str, received: int) -> SourceError:
        """The error for a download still running when `timeout_s` is over."""
        return SourceError(
            f"Downloading {redact_url(source)} did not finish within ingest.download_timeout_s "
            f"({self.timeout_s:g} s; {received} bytes arrived in the last attempt): the server "
            "is too slow or stalls. Run again later to resume, or raise "
            "`ingest.download_timeout_s` in params.yaml."
        )


NO_LIMITS = Limits()
