"""The service's limits, from params.yaml's `serve` section, and the media types they allow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catdog_pipeline.core.errors import InputError

MEDIA_TYPES = {
    "JPEG": ("image/jpeg", "image/pjpeg"),
    "PNG": ("image/png",),
    "GIF": ("image/gif",),
    "BMP": ("image/bmp", "image/x-bmp", "image/x-ms-bmp"),
    "WEBP": ("image/webp",),
    "TIFF": ("image/tiff",),
}


@dataclass(frozen=True)
class ServeLimits:
    """The service's limits, from params.yaml's `serve` section."""

    max_body_bytes: int
    max_pixels: int
    formats: frozenset[str]
    max_files: int
    batch_size: int

    @classmethod
    def from_params(cls, serve: Mapping[str, Any]) -> ServeLimits:
        """Validate `params:serve`; an error names the key and what it should be."""
        counts = ("max_body_bytes", "max_pixels", "max_files", "batch_size")
        for key in counts:
            value = serve.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(
                    f"params.yaml serve.{key} must be a positive integer, got {value!r}"
                )
        formats = serve.get("formats")
        if not formats or not set(formats) <= set(MEDIA_TYPES):
            raise InputError(
                f"params.yaml serve.formats must list some of {sorted(MEDIA_TYPES)}, "
                f"got {formats!r}"
            )
        return cls(**{key: serve[key] for key in counts}, formats=frozenset(formats))

    @property
    def media_types(self) -> frozenset[str]:
        return frozenset(t for f in self.formats for t in MEDIA_TYPES[f])
