"""What a security review of the running app found (issue 15), each through the real server on loopback:
refusals that were 500s or not JSON, unbounded headers and slow clients, uploads, CORS on the Gradio app,
files other users could read, raw addresses in research files and IPv6 hosts that were 2^64 clients."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from pathlib import Path

import httpx
import pytest

from insideout.identity import client_key, network_of
from tests.conftest import ADMIN_TOKEN, serve
from tests.helpers import answers


def raw_exchange(port: int, data: bytes, wait_s: float = 10.0) -> tuple[bytes, float]:
    """Send bytes on a fresh connection; what came back until the server closed it, and how long that took."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(wait_s)
        start = time.monotonic()
        s.sendall(data)
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except TimeoutError:
            out += b"<still open>"
        return out, time.monotonic() - start


def status_and_json(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("hostile"), header_timeout_s=1.0, body_timeout_s=1.0,
               max_header_bytes=8192, keepalive_s=1.0, admin_token=ADMIN_TOKEN) as server:
        yield server


@pytest.fixture
def http(live):
    with live.client() as client:
        yield client


# -- 1: text no secret comparison can take ------------------------------------------------------------------


def test_a_token_of_non_ascii_text_is_refused_and_the_connection_stays_usable(live, http):
    secret = live.services.sites.builtin_secret()
    for token in ["v1.abc.é", "v1.é.é", "v1.abc.\ud800"]:
        body = json.dumps({"secret": secret, "token": token})  # \ud800: a lone surrogate, as JSON allows
        r = http.post("/api/v1/siteverify", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 200 and r.json()["error_codes"] == ["invalid-input-response"]
    assert http.get("/api/v1/health").status_code == 200  # same keep-alive connection


def test_a_non_ascii_admin_token_or_puzzle_signature_is_refused_not_a_server_error(live, http):
    r = http.get("/api/v1/admin/tallies", headers={"authorization": "Bearer é".encode("latin-1")})
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    puzzle = http.get("/api/v1/pow").json()
    r = http.post("/api/v1/alternative", json={"pow": {**puzzle, "signature": "é" * 8, "nonce": "0"}})
    assert r.status_code == 403 and r.json()["error"] == "pow_invalid"


# -- 2: the server's own limits ------------------------------------------------------------------------------


def test_headers_over_the_limit_get_431_and_the_connection_closed(live):
    out, _ = raw_exchange(live.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
    assert status_and_json(out) == (431, {"error": "headers_too_large",
                                          "message": "a request's line and headers may take 8192 bytes"})


def test_an_unfinished_huge_header_is_cut_off_at_the_limit_not_buffered(live):
    with socket.create_connection(("127.0.0.1", live.port)) as s:
        s.settimeout(5)
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        with pytest.raises(OSError):  # the server closes: the send fails, or the reply comes first
            while sent < 32 * 1024 * 1024:
                s.sendall(b"a" * 65536)
                sent += 65536
                if s.recv(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    raise OSError("answered")
        assert sent < 4 * 1024 * 1024


def test_headers_that_trickle_in_too_slowly_get_408(live):
    with socket.create_connection(("127.0.0.1", live.port)) as s:
        s.settimeout(5)
        start = time.monotonic()
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\n")
        try:
            for _ in range(20):  # slowloris: a header line every 0.3 s, never the end
                s.sendall(b"X-A: b\r\n")
                time.sleep(0.3)
        except OSError:
            pass
        out = s.recv(65536)
        assert status_and_json(out)[0] == 408 and time.monotonic() - start < 3


def test_a_body_that_never_comes_gets_408(live):
    out, took = raw_exchange(live.port, b"POST /api/v1/siteverify HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                        b"application/json\r\nContent-Length: 100\r\n\r\n{\"se")
    assert status_and_json(out)[0] == 408 and took < 3


def test_a_connection_that_sends_nothing_is_closed(live):
    out, took = raw_exchange(live.port, b"")
    assert out.startswith(b"HTTP/1.1 408") and took < 3


def test_many_slow_connections_are_all_closed_by_the_header_deadline(live):
    sockets = []
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", live.port))
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        sockets.append(s)
    time.sleep(2.0)
    for s in sockets:
        s.settimeout(2)
        assert s.recv(65536).startswith(b"HTTP/1.1 408")
        s.close()
    with live.client() as client:
        assert client.get("/api/v1/health").status_code == 200


def test_an_idle_keep_alive_connection_is_closed(live):
    with socket.create_connection(("127.0.0.1", live.port)) as s:
        s.settimeout(5)
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        start, out = time.monotonic(), b""
        while chunk := s.recv(65536):
            out += chunk
        assert out.startswith(b"HTTP/1.1 200") and 0.5 < time.monotonic() - start < 3


def test_past_the_connection_limit_a_request_gets_503_in_json(tmp_path):
    with serve(tmp_path, max_connections=8) as server:
        held = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(8)]
        time.sleep(0.3)
        out, _ = raw_exchange(server.port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status_and_json(out)[0] == 503 and b"retry-after: 5" in out.lower()
        for s in held:
            s.close()
        time.sleep(0.3)
        with server.client() as client:
            assert client.get("/api/v1/health").status_code == 200


# -- 3: uploads ----------------------------------------------------------------------------------------------


def test_gradio_uploads_are_refused_and_nothing_is_kept(live, http, tmp_path):
    before = set(Path(os.environ.get("GRADIO_TEMP_DIR", "/tmp/gradio")).rglob("*")) if os.environ.get(
        "GRADIO_TEMP_DIR") else set()
    for path in ["/gradio_api/upload", "/upload", "/gradio_api/upload/"]:
        r = http.post(path, files={"files": ("x.bin", b"\0" * 1_000_000)})
        assert r.status_code == 403 and r.json()["error"] == "uploads_off"
    if os.environ.get("GRADIO_TEMP_DIR"):
        assert set(Path(os.environ["GRADIO_TEMP_DIR"]).rglob("x.bin")) - before == set()


# -- 4: every refusal JSON and documented --------------------------------------------------------------------


def test_a_body_that_is_not_json_text_is_422_like_any_bad_body(http):
    for body in [b"\xff\xfe{", b"{not json", b"[1,"]:
        r = http.post("/api/v1/challenges", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request", body


def test_head_answers_like_get_without_a_body(http):
    r = http.head("/api/v1/health")
    assert r.status_code == 200 and r.content == b"" and r.headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["TRACE", "OPTIONS", "DELETE", "PUT", "QUERY", "PROPFIND"])
def test_a_method_an_endpoint_does_not_take_is_405_json_with_allow(http, method):
    r = http.request(method, "/api/v1/health")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed" and r.headers["allow"] == "GET"


def test_a_request_the_parser_cannot_read_is_400_json(live):
    response, _ = raw_exchange(live.port, b"get /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    status, body = status_and_json(response)
    assert status == 400 and body["error"] == "bad_request"


def test_an_unknown_api_path_is_404_json_whatever_the_method(http):
    for method in ["GET", "HEAD", "TRACE", "OPTIONS", "POST", "QUERY"]:
        r = http.request(method, "/api/v1/nothing-here")
        assert r.status_code == 404
        if method != "HEAD":
            assert r.json()["error"] == "not_found"


def test_a_refused_preflight_is_json(http):
    r = http.options("/api/v1/challenges", headers={"origin": "https://evil.example",
                                                    "access-control-request-method": "POST"})
    assert r.status_code == 403 and r.json()["error"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in r.headers


def test_every_api_operation_documents_its_refusals(http):
    paths = http.get("/openapi.json").json()["paths"]
    expected = {
        ("get", "/api/v1/health"): {"200", "429"},
        ("get", "/api/v1/pow"): {"200", "400", "403", "422", "429"},
        ("post", "/api/v1/challenges"): {"201", "400", "403", "413", "422", "429", "503"},
        ("post", "/api/v1/alternative"): {"200", "400", "403", "413", "422", "429", "503"},
        ("get", "/api/v1/challenges/{challenge_id}/audio/{slot}"): {"200", "403", "404", "409", "410", "422",
                                                                     "429", "503"},
        ("post", "/api/v1/challenges/{challenge_id}/answer"): {"200", "403", "404", "409", "410", "413", "422",
                                                                "429", "503"},
        ("post", "/api/v1/siteverify"): {"200", "400", "413", "429"},
        ("get", "/api/v1/admin/tallies"): {"200", "401", "404", "429"},
    }
    for (method, path), statuses in expected.items():
        documented = paths[path][method]["responses"]
        assert statuses <= set(documented), (method, path, set(documented))
        for status in statuses - {"200", "201"}:
            assert documented[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


# -- 5: data at rest ------------------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_audio_and_keys_are_the_owners_alone(live):
    settings = live.services.settings
    assert mode(settings.data_dir) == 0o700
    for name in ["insideout.db", "insideout.db-wal", "insideout.db-shm"]:
        assert mode(settings.data_dir / name) == 0o600, name
    for pool in ["play", "unverified", "learning"]:
        folder = settings.audio_dir / pool
        assert mode(folder) == 0o700
        assert all(mode(f) == 0o600 for f in folder.glob("*.wav"))
    assert mode(settings.audio_dir) == 0o700


def test_an_existing_world_readable_install_is_tightened_at_start(tmp_path):
    from insideout.services import build_services
    from tests.conftest import make_settings

    data = tmp_path / "data"
    build_services(make_settings(data)).db.close()
    for path in [data, data / "insideout.db", data / "audio" / "play"]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    build_services(make_settings(data))
    assert (mode(data), mode(data / "insideout.db"), mode(data / "audio" / "play")) == (0o700, 0o600, 0o700)


# -- 7: a client is an IPv6 /64 ------------------------------------------------------------------------------


def test_a_client_is_its_ipv4_address_and_its_ipv6_slash_64():
    assert client_key("203.0.113.9") == "203.0.113.9"
    assert client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:203.0.113.9") == "203.0.113.9"
    assert client_key("2001:db8::1", ipv6_prefix=128) == "2001:db8::1"
    assert client_key("203.0.113.9", ipv4_prefix=24) == "203.0.113.0/24"
    assert client_key("unknown") == "unknown"
    assert network_of("2001:db8:1:2::/64") == network_of("2001:db8:1:2::1") == "2001:db8:1::/48"
    assert network_of("203.0.113.0/24") == "203.0.113.0/24"


def test_addresses_of_one_ipv6_slash_64_share_one_rate_limit(tmp_path):
    with serve(tmp_path, trusted_proxies=(__import__("ipaddress").ip_network("127.0.0.1/32"),),
               rate_limit_per_min=2) as server, server.client() as client:
        def create(address: str) -> int:
            return client.post("/api/v1/challenges", json={}, headers={"x-forwarded-for": address}).status_code

        assert [create("2001:db8:1:2::1"), create("2001:db8:1:2:ffff::9")] == [201, 201]
        assert create("2001:db8:1:2::77") == 429  # a third address of the same /64: the same client
        assert create("2001:db8:1:3::1") == 201  # the next /64 is another
        c = client.post("/api/v1/challenges", json={}, headers={"x-forwarded-for": "2001:db8:1:4::1"}).json()
        right = answers(server.services, c["challenge_id"], True)
        r = client.post(f"/api/v1/challenges/{c['challenge_id']}/answer", json={"answers": right},
                        headers={"x-forwarded-for": "2001:db8:1:4::2"})
        assert r.json()["status"] == "passed"
        voters = {v["voter"] for v in server.services.db.all_votes()}
        assert voters <= {"2001:db8:1:4::/64"}


# -- 8: CORS on the Gradio app -------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["https://evil.example", "null"])
def test_the_gradio_app_answers_no_cross_origin_request(live, origin):
    with httpx.Client(base_url=live.url, timeout=30) as client:
        headers = {"origin": origin, "host": "insideout.example"}  # a public host, where Gradio echoed any Origin
        r = client.get("/config", headers=headers)
        assert not any(k.startswith("access-control-") for k in r.headers)
        r = client.options("/gradio_api/queue/join", headers={**headers, "access-control-request-method": "POST"})
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


def test_the_widget_script_may_be_fetched_by_any_page_without_credentials(http):
    r = http.get("/widget.js", headers={"origin": "https://shop.example"})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in r.headers
