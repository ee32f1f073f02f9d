"""Serve InsideOut: the Gradio app and the HTTP API from one server."""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import uvicorn  # noqa: E402

from insideout.corpus import starter  # noqa: E402
from insideout.services import build_services, recover  # noqa: E402
from insideout.settings import SettingsError, load_settings  # noqa: E402
from insideout.storage import StoreError  # noqa: E402
from insideout.web import create_app  # noqa: E402


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as e:
        sys.exit(f"insideout: bad setting: {e}")
    try:
        services = build_services(settings)
    except StoreError as e:
        sys.exit(f"insideout: audio storage: {e}")
    recover(services)
    if settings.starter_library and starter.needs_build(services.library, settings.data_dir):
        print("Building the starter library (first start; INSIDEOUT_STARTER_LIBRARY=0 skips it)",
              flush=True)
        report = starter.build(services.library)
        starter.mark_built(settings.data_dir, starter.StarterConfig(), report)
        print(report.summary(), flush=True)
    app = create_app(services)
    print(f"InsideOut on http://{settings.host}:{settings.port}", flush=True)
    # Gradio's heartbeat streams would hold a plain shutdown open; 5 s is enough for real requests.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                proxy_headers=False, timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
