"""The web layer: the HTTP API and the Gradio views in one FastAPI app. No logic of its own."""

from __future__ import annotations

import gradio as gr
from fastapi import FastAPI

from ..services import Services
from . import api
from .ui import build_blocks


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="InsideOut",
        description="Emotion-based audio CAPTCHA and crowd-labeling API.",
        version="1",
    )
    api.install(app, services)
    blocks = build_blocks(services)
    return gr.mount_gradio_app(app, blocks, path="", footer_links=[], run_history=False)
