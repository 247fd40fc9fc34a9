"""The HTTP service: `POST /predict`, `GET /health`, `GET /metrics` (monitoring.py), `POST
/reload` when following the champion (champion.py), an upload page at `/`, the docs at /docs.

Every limit comes from params.yaml's `serve` section. Bad uploads get a 4xx JSON answer
`{"error": <code>, "detail": <what to do>, "file": <name>}`; decoding and inference run on
worker threads so the event loop keeps answering while the model works.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from catdog_pipeline import __version__
from catdog_pipeline.images import UnusableImage
from catdog_pipeline.serving.body_limit import BodySizeLimit, error_json
from catdog_pipeline.serving.champion import ServedModel, add_reload
from catdog_pipeline.serving.docs import add_offline_docs, predict_openapi
from catdog_pipeline.serving.limits import ServeLimits
from catdog_pipeline.serving.monitoring import ServiceMonitor, add_monitoring
from catdog_pipeline.serving.predictor import Predictor

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
UPLOAD_FIELD = "file"
# Clients that do not know what they send (curl without a type, scripts) say octet-stream;
# those uploads are judged by their content alone.
UNTYPED = ("", "application/octet-stream")
# HTTP status for each way `prepare_image` can refuse an upload.
STATUS_FOR_REASON = {
    "empty": 400,
    "not_an_image": 415,
    "unsupported_format": 415,
    "decompression_bomb": 413,
    "too_small": 422,
    "truncated": 422,
}


class UploadRejected(Exception):
    """A request the service will not classify: becomes a 4xx JSON answer."""

    def __init__(self, status: int, error: str, detail: str, file: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail, self.file = status, error, detail, file


@dataclass(frozen=True)
class Upload:
    """One uploaded file, read into memory (the body limit bounds its size)."""

    filename: str
    data: bytes


def create_app(
    model: Predictor | ServedModel, limits: ServeLimits, monitor: ServiceMonitor | None = None
) -> FastAPI:
    """The service around an already loaded model (loaded once, before the first request).

    A ServedModel that follows the champion alias adds POST /reload (and polling); `monitor`
    serves GET /metrics, by default with no drift baseline and no capture.
    """
    served = model if isinstance(model, ServedModel) else ServedModel(model)
    predictor = served.predictor  # the first model: its classes name the metrics and docs
    if monitor is None:
        monitor = ServiceMonitor(predictor.card.classes, uncertain_below=0.7, drift_window=500)

    @asynccontextmanager
    async def warm_up(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(served.warm_up)  # before taking requests
        async with served.polling():
            yield

    app = FastAPI(
        title="catdog",
        version=__version__,
        summary=f"Is it a {' or a '.join(predictor.card.classes)}? Upload a photo and see.",
        lifespan=warm_up,
        docs_url=None,  # /docs and /redoc come from add_offline_docs: no CDN
        redoc_url=None,
    )
    add_offline_docs(app)
    app.add_middleware(BodySizeLimit, max_body_bytes=limits.max_body_bytes)
    add_monitoring(app, monitor)  # after the body limit: its 413s are counted too
    app.add_exception_handler(UploadRejected, _rejected_response)
    app.add_exception_handler(HTTPException, _http_error_response)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def upload_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    if served.follows_alias:
        add_reload(app, served)

    @app.get("/health", summary="Liveness, the loaded model and the upload limits")
    async def health() -> dict[str, Any]:
        predictor = served.predictor
        card = predictor.card
        return {
            "status": "ok",
            "model": predictor.description,
            "model_version": served.version,
            "classes": list(card.classes),
            "positive_class": card.positive_class,
            "image_size": list(card.image_size),
            "threshold": predictor.threshold,
            "limits": {
                "max_body_bytes": limits.max_body_bytes,
                "max_pixels": min(limits.max_pixels, card.max_pixels),
                "max_files": limits.max_files,
                "formats": sorted(limits.formats),
                "media_types": sorted(limits.media_types),
            },
        }

    @app.post(
        "/predict",
        summary="Classify one or more images",
        description=(
            f"Send images as multipart/form-data, each in a field named `{UPLOAD_FIELD}` (at most "
            f"{limits.max_files}, {limits.max_body_bytes} bytes in all, formats "
            f"{', '.join(sorted(limits.formats))}). If any upload is unusable the whole request "
            "is refused with a 4xx naming that file."
        ),
        openapi_extra=predict_openapi(UPLOAD_FIELD, predictor.card.positive_class),
        responses={
            400: {"description": "Empty file, too many files or malformed multipart"},
            413: {"description": "Body or pixel count over the limit"},
            415: {"description": "Not multipart, or not an accepted image type"},
            422: {"description": "A truncated or otherwise broken image"},
        },
    )
    async def predict(request: Request) -> dict[str, Any]:
        uploads = await _read_uploads(request, limits)
        predictions = await run_in_threadpool(_classify, served.predictor, limits, uploads)
        await run_in_threadpool(monitor.observe, [u.data for u in uploads], predictions)
        return {"predictions": predictions}

    return app


async def _read_uploads(request: Request, limits: ServeLimits) -> list[Upload]:
    """The `file` parts of a multipart request, checked for count and declared type."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UploadRejected(
            415,
            "not_multipart",
            f"send multipart/form-data with the images in field '{UPLOAD_FIELD}', "
            f"not {content_type or 'no content type'}",
        )
    try:
        form = await request.form(max_files=limits.max_files, max_fields=limits.max_files)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        # The parser's own words: "Too many files. Maximum number of files is 16.", "Invalid
        # multipart data.", "Missing boundary in multipart."
        raise UploadRejected(400, "bad_multipart", str(exc.detail)) from None
    try:
        parts = form.getlist(UPLOAD_FIELD)
        if not parts:
            raise UploadRejected(
                422, "no_file", f"no upload in field '{UPLOAD_FIELD}': attach an image there"
            )
        return [await _read_part(part, index, limits) for index, part in enumerate(parts)]
    finally:
        await form.close()


async def _read_part(part: UploadFile | str, index: int, limits: ServeLimits) -> Upload:
    if not isinstance(part, UploadFile):
        raise UploadRejected(
            422, "not_a_file", f"field '{UPLOAD_FIELD}' #{index + 1} is text, not a file upload"
        )
    name = part.filename or f"upload #{index + 1}"
    media_type = (part.content_type or "").split(";")[0].strip().lower()
    if media_type not in limits.media_types and media_type not in UNTYPED:
        raise UploadRejected(
            415,
            "unsupported_media_type",
            f"{media_type} is not accepted; send one of {', '.join(sorted(limits.media_types))}",
            name,
        )
    return Upload(name, await part.read())


def _classify(predictor: Predictor, limits: ServeLimits, uploads: Sequence[Upload]) -> list[dict]:
    """Decode every upload (refusing the request on the first bad one), then run the model."""
    pixels = np.stack([_prepare_upload(predictor, limits, upload) for upload in uploads])
    names = [upload.filename for upload in uploads]
    positive_key = f"p_{predictor.card.positive_class}"
    results = []
    for start in range(0, len(uploads), limits.batch_size):
        batch = slice(start, start + limits.batch_size)
        for prediction in predictor.predict_arrays(names[batch], pixels[batch]):
            results.append(
                {
                    "filename": prediction.source,
                    "label": prediction.label,
                    "probability": prediction.probability,
                    positive_key: prediction.p_positive,
                }
            )
    return results


def _prepare_upload(predictor: Predictor, limits: ServeLimits, upload: Upload) -> np.ndarray:
    image_format = _sniff_format(upload.data)
    if image_format is not None and image_format not in limits.formats:
        raise UploadRejected(
            415,
            "unsupported_format",
            f"{image_format} images are not accepted; send {', '.join(sorted(limits.formats))}",
            upload.filename,
        )
    try:
        return predictor.prepare(upload.data, max_pixels=limits.max_pixels)
    except UnusableImage as unusable:
        status = STATUS_FOR_REASON.get(unusable.reason, 422)
        raise UploadRejected(status, unusable.reason, unusable.detail, upload.filename) from None
    except Exception as exc:  # a hostile file must get a 4xx, never take the service down
        logger.warning("Could not decode %s: %r", upload.filename, exc)
        raise UploadRejected(
            422, "undecodable", f"the image could not be decoded ({exc})", upload.filename
        ) from None


def _sniff_format(data: bytes) -> str | None:
    """The image format named in the file's header (MPO counts as JPEG); None if unrecognised.

    Reads the header only: decoding, and its checks, stay in `prepare_image`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with Image.open(io.BytesIO(data)) as image:
                image_format = image.format
        except Exception:  # unrecognised or hostile headers are prepare_image's to explain
            return None
    return "JPEG" if image_format == "MPO" else image_format


async def _rejected_response(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UploadRejected)
    return error_json(exc.status, exc.error, exc.detail, exc.file)


async def _http_error_response(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    error = "request_too_large" if exc.status_code == 413 else f"http_{exc.status_code}"
    return error_json(exc.status_code, error, str(exc.detail), headers=exc.headers)
