"""Serve InsideOut: the Gradio app and the HTTP API from one server."""

from __future__ import annotations

import logging
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import uvicorn  # noqa: E402

from insideout.config import SettingsError, load_settings  # noqa: E402
from insideout.services import build_services, recover  # noqa: E402
from insideout.web import create_app  # noqa: E402


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as e:
        sys.exit(f"insideout: bad setting: {e}")
    services = build_services(settings)
    recover(services)
    app = create_app(services)
    print(f"InsideOut on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                proxy_headers=False)


if __name__ == "__main__":
    main()
