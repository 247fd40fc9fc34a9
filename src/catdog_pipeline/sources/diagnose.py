"""Say precisely what is wrong with a file that should be an archive."""

import zipfile
from pathlib import Path

from catdog_pipeline.sources.errors import DamagedFileError

_ADVICE = (
    "Check `ingest.source` in params.yaml (open a URL in a browser: it must download the "
    "archive itself), or download the archive by hand and point `ingest.source` at it."
)
_COMPRESSED = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz"}


def not_an_archive(path: Path, name: str) -> DamagedFileError:
    """The error for `path` (described as `name`), which is no readable zip or tar archive."""
    name = name if name == str(path) else f"{name} ({path})"
    if not path.is_file():
        return DamagedFileError(f"{name} is not a zip or tar archive: no such file. {_ADVICE}")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(1024)
    text = head.lstrip().lower()
    if size == 0:
        what = "is empty (0 bytes), not a zip or tar archive"
    elif text.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<html" in text:
        what = (
            "is an HTML page, not an archive (a web site's error, sign-in or 'download' page "
            "rather than the file)"
        )
    elif head.startswith(b"PK\x03\x04"):
        what = f"is a zip that is truncated at byte {size} (its table of contents is missing)"
    elif kind := next((k for magic, k in _COMPRESSED.items() if head.startswith(magic)), None):
        what = f"is {kind} data that is not a complete tar archive (truncated at byte {size}?)"
    elif size < 1024:
        what = f"is only {size} bytes long and not a zip or tar archive"
    else:
        what = f"is not a zip or tar archive ({size} bytes of another kind of data)"
    return DamagedFileError(f"{name} {what}. {_ADVICE}")


def damaged(path: Path, name: str, error: BaseException) -> DamagedFileError:
    """The error for an archive that stops making sense while it is read."""
    size = path.stat().st_size if path.is_file() else 0
    if (
        isinstance(error, EOFError)
        or "end-of-stream" in str(error)
        or "unexpected end" in str(error)
    ):
        what = f"is truncated at byte {size}: it ends before its last entry is complete"
    elif isinstance(error, zipfile.BadZipFile) and "CRC" in str(error):
        what = f"is corrupt: {error} (the data does not match its checksum)"
    else:
        what = f"is corrupt or truncated ({error})"
    return DamagedFileError(
        f"{name} {what}. Download or copy it again; if it keeps failing, the source "
        f"itself is damaged. {_ADVICE}"
    )
