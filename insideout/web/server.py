"""The HTTP server's own limits, below the app: how large and how slow a request may be, how long an idle
connection stays, how many connections are taken at once.

uvicorn's httptools protocol bounds none of the first three (an 8 MiB header was answered 200; twenty
connections each sending 32 MiB of an unfinished header raised the server's memory by 700 MB; 400 slowloris
connections stayed open for 45 s). GuardedHttpTools adds them, measured by `insideout bench-limits`:
- the request line and headers of one request may take max_header_bytes; past that the client gets 431 and
  the connection is closed, having cost at most that plus one read (the bytes are counted as they arrive,
  before the parser holds them);
- the headers must arrive within header_timeout_s of the request's first byte (of the connection's opening,
  for its first request), the body within body_timeout_s of the headers; else 408 and close;
- an idle keep-alive connection closes after keepalive_s, and past max_connections open connections (or
  requests in flight) a new request gets 503 (uvicorn's limit_concurrency).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    import uvicorn

    from ..settings import Settings


@dataclass(frozen=True)
class Limits:
    max_header_bytes: int
    header_timeout_s: float
    body_timeout_s: float
    keepalive_s: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.max_header_bytes, settings.header_timeout_s, settings.body_timeout_s,
                   settings.keepalive_s, settings.max_connections)


REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large",
           503: "Service Unavailable"}


def refusal_bytes(status: int, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 response that refuses and closes: the API's {"error", "message"} shape."""
    body = json.dumps({"error": code, "message": message}).encode()
    retry = "retry-after: 5\r\n" if status == 503 else ""
    head = (f"HTTP/1.1 {status} {REASONS[status]}\r\ncontent-type: application/json\r\n{retry}"
            f"content-length: {len(body)}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with header size, header time and body time limits (see the module)."""

    limits: Limits  # set on the subclass protocol_for() makes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limit_concurrency = None  # checked here instead, to refuse in the API's JSON (uvicorn's is text)
        self._in_headers = True  # reading a request line and headers (from the connection's opening)
        self._header_bytes = 0
        self._refused = False
        self._timer: Any = None  # the header or the body deadline, whichever is running

    # -- deadlines ---------------------------------------------------------------------------------

    def _arm(self, seconds: float, what: str) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._too_slow, what)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self, what: str) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # closed already, or upgraded to a WebSocket, which keeps its own time
        if what == "body" and self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # too late for a status: the app is answering while the body never came
            return
        self._refuse(408, "request_timeout", f"the request's {what} did not arrive in time")

    def _refuse(self, status: int, code: str, message: str) -> None:
        self._refused = True
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's task, if any, stops waiting for a body
            self.cycle.message_event.set()
        self.transport.write(refusal_bytes(status, code, message))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:  # type: ignore[override]
        # What the parser cannot read (a lowercase method, a broken request line) is refused in the API's shape.
        self._refuse(400, "bad_request", f"the server could not parse the request ({msg.rstrip('.')})")

    # -- the protocol ------------------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_s, "headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._in_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._in_headers and not self._refused and self._header_bytes > self.limits.max_header_bytes:
            self._refuse(431, "headers_too_large",
                         f"a request's line and headers may take {self.limits.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._in_headers:  # a later request on a kept-alive connection: its own header deadline
            self._in_headers, self._header_bytes = True, 0
            self._arm(self.limits.header_timeout_s, "headers")

    def on_headers_complete(self) -> None:
        self._in_headers = False
        size = len(self.url) + sum(len(k) + len(v) + 4 for k, v in self.headers)
        if size > self.limits.max_header_bytes:
            self._refuse(431, "headers_too_large",
                         f"a request's line and headers may take {self.limits.max_header_bytes} bytes")
            return
        if len(self.connections) > self.limits.max_connections or len(self.tasks) >= self.limits.max_connections:
            self._refuse(503, "server_busy", "the server is at its connection limit; try again shortly")
            return
        self._arm(self.limits.body_timeout_s, "body")
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        if not self._refused:
            super().on_message_complete()


def protocol_for(limits: Limits) -> type[GuardedHttpTools]:
    """The protocol class uvicorn builds per connection, bound to these limits."""
    return type("InsideOutHttp", (GuardedHttpTools,), {"limits": limits})


def server_config(app: Any, settings: Settings, host: str | None = None, port: int | None = None,
                  **overrides: Any) -> uvicorn.Config:
    """The uvicorn Config `insideout serve` runs with (the tests serve with the same one)."""
    import uvicorn

    limits = Limits.from_settings(settings)
    options: dict[str, Any] = {
        "host": settings.host if host is None else host,
        "port": settings.port if port is None else port,
        "http": protocol_for(limits),
        "log_level": "warning",
        "proxy_headers": False,  # the client is named by identity.client_address, behind trusted proxies only
        "timeout_keep_alive": limits.keepalive_s,
        "limit_concurrency": limits.max_connections,  # GuardedHttpTools enforces it
        # Gradio's heartbeat streams would hold a plain shutdown open; 5 s is enough for real requests.
        "timeout_graceful_shutdown": 5,
    }
    return uvicorn.Config(app, **{**options, **overrides})
