"""Local sources: a path, `~/...` or a `file://` URL naming an existing file or directory."""

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from catdog_pipeline.sources.errors import SourceError
from catdog_pipeline.sources.redact import redact_url


def resolve_local(source: str) -> Path:
    """The absolute path of the existing file or directory `source` names."""
    parts, shown = urlsplit(source), redact_url(source)
    if parts.scheme == "file":
        # file:///abs/path; file://rel/path and file://~/path are read as written.
        host = parts.netloc if parts.netloc not in ("", "localhost") else ""
        path = Path(url2pathname(host + parts.path)).expanduser()
    elif "://" in source:
        raise SourceError(
            f"ingest.source {shown!r} uses the unsupported scheme {parts.scheme!r}. "
            "Use a Google Drive link, gdrive://<id>, an http(s) URL or a local path "
            "in params.yaml."
        )
    else:
        path = Path(source).expanduser()
    if not path.exists():
        raise SourceError(
            f"ingest.source {shown!r} does not exist (looked for {path.absolute()}). "
            "Fix `ingest.source` in params.yaml: an existing local archive or directory, "
            "a Google Drive link, gdrive://<id>, or an http(s) URL."
        )
    return path.absolute()
