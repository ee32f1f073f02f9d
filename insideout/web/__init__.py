"""The web layer: the HTTP API and the Gradio views in one FastAPI app. No logic of its own."""

from __future__ import annotations

from fastapi import FastAPI

from ..services import Services
from . import api


def create_app(services: Services) -> FastAPI:
    import gradio as gr  # here, not at import: the Lambda API (web.lambda_api) uses this package without Gradio

    from .ui import build_blocks

    app = FastAPI(
        title="InsideOut",
        description="Emotion-based audio CAPTCHA and crowd-labeling API.",
        version="1",
    )
    api.install(app, services)
    blocks = build_blocks(services)
    # show_error=False: only gr.Error messages reach the page, never an exception's text.
    # blocked_paths: Gradio's file route never serves the data dir, whatever its temp dir.
    return gr.mount_gradio_app(app, blocks, path="", footer_links=[], run_history=False,
                               show_error=False, blocked_paths=[str(services.settings.data_dir.resolve())])
