"""`catdog serve`: the model over HTTP (cli.py adds it)."""

from __future__ import annotations

from pathlib import Path

import click

from catdog_pipeline.model_cli import load_served_model, model_option, params_option, read_params


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@model_option
@params_option
def serve(host: str, port: int, model: str, params_path: Path) -> None:
    """Serve the model over HTTP: POST /predict, GET /health, an upload page at /, docs at /docs.

    The limits (body size, pixels, formats, files per request), the monitoring (GET /metrics,
    drift window) and the capture of uncertain uploads come from params.yaml's `serve`.
    """
    import uvicorn

    from catdog_pipeline.serving.app import create_app
    from catdog_pipeline.serving.limits import ServeLimits
    from catdog_pipeline.serving.monitoring import monitor_from_params

    params = read_params(params_path)
    try:
        limits = ServeLimits.from_params(params["serve"])
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        served = load_served_model(
            model, params, poll_seconds=float(params["serve"]["reload_seconds"])
        )
        card = served.predictor.card
        monitor = monitor_from_params(
            params["serve"], card.classes, card.positive_class, served.predictor.description
        )
    except KeyError as exc:
        raise click.ClickException(f"params.yaml serve has no {exc}") from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    app = create_app(served, limits, monitor)
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=5)
