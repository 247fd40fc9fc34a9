"""The API docs, Swagger UI at /docs and ReDoc at /redoc, served without the internet.

FastAPI's own pages load their JavaScript and CSS from jsDelivr, their icon from
fastapi.tiangolo.com and ReDoc's fonts from Google, so offline they stay blank. The
fastapi-offline package (pinned in requirements.lock) ships copies of Swagger UI and ReDoc; they
are mounted here and the pages point at them. The app must be built with `docs_url=None` and
`redoc_url=None` so FastAPI does not add its CDN pages first. `predict_openapi` describes
/predict's multipart body, which FastAPI cannot infer from a handler that reads the form itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from catdog_pipeline.core.errors import InputError

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs-assets"
# Swagger UI would otherwise send the schema's address to validator.swagger.io for a badge.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}
# ReDoc's sidebar always shows Redocly's logo from cdn.redoc.ly (hidden when it fails to load):
# the browser is told to load images from this service only.
REDOC_CSP = "img-src 'self' data:"


def add_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI at /docs and ReDoc at /redoc from packaged files, not from a CDN."""
    if app.docs_url or app.redoc_url or not app.openapi_url:
        raise InputError("build the app with docs_url=None, redoc_url=None and an openapi_url")
    openapi_url = app.openapi_url
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - API docs",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **SWAGGER_UI_PARAMETERS},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = REDOC_CSP
        return page


def predict_openapi(upload_field: str, positive_class: str) -> dict[str, Any]:
    """OpenAPI request body and answer for /predict, so /docs offers a file picker."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [upload_field],
                        "properties": {
                            upload_field: {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            }
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {
                "description": "One prediction per upload, in the order sent",
                "content": {
                    "application/json": {
                        "example": {
                            "predictions": [
                                {
                                    "filename": "rex.jpg",
                                    "label": positive_class,
                                    "probability": 0.97,
                                    f"p_{positive_class}": 0.97,
                                }
                            ]
                        }
                    }
                },
            }
        },
    }
