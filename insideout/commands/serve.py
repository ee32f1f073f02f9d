"""Serve InsideOut: the Gradio app and the HTTP API from one server, on INSIDEOUT_HOST:INSIDEOUT_PORT.

On first start with an empty play pool it synthesizes the starter library (INSIDEOUT_STARTER_LIBRARY=0
skips it), then serves.

    insideout serve          (python app.py does the same)
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Everything the server takes is a setting (`insideout settings`)."""


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings = ctx.settings()  # a bad setting stops the start before the slow imports
    services = ctx.services()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported

    import uvicorn

    from insideout.corpus import starter
    from insideout.services import recover
    from insideout.web import create_app
    from insideout.web.server import server_config

    recover(services)
    services.accounts.load()  # a generated admin password is told now, at start
    if settings.starter_library and starter.needs_build(services.library, settings.data_dir):
        print("Building the starter library (first start; INSIDEOUT_STARTER_LIBRARY=0 skips it)", flush=True)
        report = starter.build(services.library)
        starter.mark_built(settings.data_dir, starter.StarterConfig(), report)
        print(report.summary(), flush=True)
    app = create_app(services)
    if settings.play_pool_target > 0:
        print(f"Restocking the play pool to {settings.play_pool_target} fresh clips in the background", flush=True)
        services.restock.start()
    print(f"InsideOut on http://{settings.host}:{settings.port}", flush=True)
    try:
        uvicorn.Server(server_config(app, settings)).run()
    finally:
        services.restock.stop()
    return 0
