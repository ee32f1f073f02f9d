"""moto's server on loopback, for the tests and the benchmarks that need S3 and DynamoDB without AWS (moto is a
development dependency: requirements-dev.txt).

moto applies a DynamoDB request's conditions and writes without a lock, so two concurrent requests can both
pass a condition only one may; DynamoDB itself checks and writes an item atomically. This server takes its
DynamoDB requests one at a time, which gives its clients DynamoDB's atomicity; S3 requests pass alongside. A
`meter` (a callable) sees every DynamoDB request and its answer: the benchmark counts a cycle's cost with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from moto.server import ThreadedMotoServer

Meter = Callable[[dict, bytes, bytes], None]  # (WSGI environ, request body, response body)


class _OneDynamoRequestAtATime:
    def __init__(self, app, meter: Meter | None):
        self.app = app
        self.meter = meter
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            return self.app(environ, start_response)
        with self.lock:
            if self.meter is None:
                return [b"".join(self.app(environ, start_response))]
            import io

            length = int(environ.get("CONTENT_LENGTH") or 0)
            request = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(request)
            response = b"".join(self.app(environ, start_response))
            self.meter(environ, request, response)
            return [response]


class AtomicMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose DynamoDB is atomic per request (and metered, when given a meter)."""

    def __init__(self, ip_address: str = "127.0.0.1", port: int = 5000, meter: Meter | None = None):
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.meter = meter

    def _server_entry(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        app = _OneDynamoRequestAtATime(DomainDispatcherApplication(create_backend_app), self.meter)
        self._server = make_server(self._ip_address, self._port, app, True)
        self._server_ready_event.set()
        self._server.serve_forever()


def _serve(port: int, records, metering) -> None:
    """A child process's whole life: the server, its metered DynamoDB requests put on `records` while
    `metering` is set."""
    import logging
    import time

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise

    def meter(environ: dict, request: bytes, response: bytes) -> None:
        if metering.is_set():
            records.put((environ["HTTP_X_AMZ_TARGET"].split(".")[-1], environ.get("HTTP_USER_AGENT", ""),
                         request, response))

    AtomicMotoServer(port=port, meter=meter).start()
    while True:
        time.sleep(3600)


class MotoProcess:
    """The server in a process of its own (a benchmark's clients do not share its interpreter), metered:
    `records` receives (operation, user agent, request body, response body) while `metering` is set."""

    def __init__(self, port: int):
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self.records = context.Queue()
        self.metering = context.Event()
        self.url = f"http://127.0.0.1:{port}"
        self.process = context.Process(target=_serve, args=(port, self.records, self.metering), daemon=True)

    def start(self, timeout_s: float = 60.0) -> None:
        import socket
        import time

        self.process.start()
        deadline = time.time() + timeout_s
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", int(self.url.rsplit(":", 1)[1])), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("moto's server did not start")

    def drain(self) -> list[tuple[str, str, bytes, bytes]]:
        import queue

        out = []
        while True:
            try:
                out.append(self.records.get(timeout=1.0))
            except queue.Empty:
                return out

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(10)
