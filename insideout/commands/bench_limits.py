"""Measure what the server's limits (insideout.web.server) let hostile connections do, with the review's own
attacks: one 8 MiB header; 20 connections each sending up to 32 MiB of a header that never ends (the server's
memory before and after); 400 slowloris connections (how long they stay open, and whether a real request is
served meanwhile); an idle keep-alive connection.

    insideout bench-limits [--slow 400] [--big 20] [--big-mib 32] [--plain]

It starts `insideout serve` on a fresh data dir (as bench-api does). --plain serves the same app with uvicorn's
defaults instead (the server before these limits), for the comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from insideout.commands.bench_api import free_port, start_server, stock, wait_until_up

if TYPE_CHECKING:
    from insideout.cli import Context

# The server as it was before issue 15: the app under uvicorn's defaults.
PLAIN_SERVER = """
import sys, uvicorn
from insideout.services import build_services
from insideout.settings import load_settings
from insideout.web import create_app
settings = load_settings()
uvicorn.run(create_app(build_services(settings)), host="127.0.0.1", port=settings.port, log_level="warning")
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--slow", type=int, default=400, help="slowloris connections (default 400)")
    parser.add_argument("--big", type=int, default=20, help="connections sending a never-ending header (default 20)")
    parser.add_argument("--big-mib", type=int, default=32, help="MiB each of them tries to send (default 32)")
    parser.add_argument("--hold-s", type=float, default=45.0,
                        help="how long the slowloris connections try to stay open (default 45)")
    parser.add_argument("--plain", action="store_true", help="serve with uvicorn's defaults (no limits), to compare")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def status_of(reply: bytes) -> str:
    return reply.split(b" ", 2)[1].decode() if reply.startswith(b"HTTP/") else "closed"


def one_big_header(port: int, size: int) -> str:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.settimeout(30)
        with contextlib.suppress(OSError):
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n")
        try:
            return status_of(s.recv(4096))
        except OSError:
            return "closed"


def endless_header(port: int, mib: int, sent: list[int], replies: list[str], hold: threading.Event) -> None:
    """Send up to `mib` MiB of one header line without ever ending it; keep the socket open until told."""
    chunk, total = b"a" * 65536, 0
    s = socket.create_connection(("127.0.0.1", port))
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        while total < mib * 1024 * 1024:
            s.sendall(chunk)
            total += len(chunk)
        hold.wait(60)
        replies.append("open")
    except OSError:
        s.settimeout(1)
        try:
            replies.append(status_of(s.recv(4096)))
        except OSError:
            replies.append("closed")
    finally:
        sent.append(total)
        s.close()


def slowloris(port: int, hold_s: float, lifetimes: list[float]) -> None:
    """A header line every second, never the blank line that ends them; how long the server kept us."""
    start = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        lifetimes.append(0.0)
        return
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        s.setblocking(False)
        while time.monotonic() - start < hold_s:
            time.sleep(1.0)
            try:
                if s.recv(4096, socket.MSG_PEEK) == b"":
                    break
                break  # the server answered (408): it is closing us
            except BlockingIOError:
                pass
            s.sendall(b"X-A: b\r\n")
    except OSError:
        pass
    finally:
        lifetimes.append(time.monotonic() - start)
        s.close()


def real_requests(url: str, stop: threading.Event, latencies: list[float], failures: list[str]) -> None:
    with httpx.Client(base_url=url, timeout=10) as client:
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                r = client.get("/api/v1/health")
                if r.status_code != 200:
                    failures.append(str(r.status_code))
            except httpx.HTTPError as e:
                failures.append(type(e).__name__)
            latencies.append(time.perf_counter() - t0)
            time.sleep(0.5)


def start(data_dir: Path, plain: bool) -> tuple[subprocess.Popen, str]:
    quiet = {"INSIDEOUT_PLAY_POOL_TARGET": "0"}  # no restock rendering beside: the memory is the connections'
    if not plain:
        return start_server(data_dir, quiet)
    port = free_port()
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(data_dir), "INSIDEOUT_PORT": str(port),
           "INSIDEOUT_STARTER_LIBRARY": "0", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", **quiet}
    proc = subprocess.Popen([sys.executable, "-c", PLAIN_SERVER], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, wait_until_up(proc, port, 120, "the plain server")


def run(args: argparse.Namespace, ctx: Context) -> int:
    with tempfile.TemporaryDirectory(prefix="insideout-bench-limits-") as tmp:
        data_dir = Path(tmp) / "data"
        stock(data_dir, play=16, unverified=4)
        proc, url = start(data_dir, args.plain)
        port = int(url.rsplit(":", 1)[1])
        try:
            print(f"server: {'uvicorn defaults (--plain)' if args.plain else 'insideout serve, its limits'}; "
                  f"pid {proc.pid}", flush=True)
            print(f"one 8 MiB header: {one_big_header(port, 8 * 1024 * 1024)}", flush=True)

            before = rss_mb(proc.pid)
            sent: list[int] = []
            replies: list[str] = []
            hold = threading.Event()
            threads = [threading.Thread(target=endless_header, args=(port, args.big_mib, sent, replies, hold))
                       for _ in range(args.big)]
            for t in threads:
                t.start()
            peak, deadline = before, time.time() + 30  # sample the server's memory while they send
            while time.time() < deadline and any(t.is_alive() for t in threads) and len(sent) < args.big:
                peak = max(peak, rss_mb(proc.pid))
                time.sleep(0.25)
            peak = max(peak, rss_mb(proc.pid))
            hold.set()
            for t in threads:
                t.join(90)
            print(f"{args.big} connections, each sending up to {args.big_mib} MiB of a never-ending header: "
                  f"server RSS {before:.0f} MB -> {peak:.0f} MB (peak) while they were open; each pushed "
                  f"{statistics.median(sent) / 1024:.0f} KiB (median, the kernels' socket buffers included) before "
                  f"the server cut it; replies "
                  f"{sorted(set(replies))}", flush=True)

            lifetimes: list[float] = []
            latencies: list[float] = []
            failures: list[str] = []
            stop = threading.Event()
            probe = threading.Thread(target=real_requests, args=(url, stop, latencies, failures))
            probe.start()
            t0 = time.monotonic()
            slow = [threading.Thread(target=slowloris, args=(port, args.hold_s, lifetimes)) for _ in range(args.slow)]
            for t in slow:
                t.start()
            for t in slow:
                t.join(args.hold_s + 30)
            stop.set()
            probe.join(15)
            print(f"{args.slow} slowloris connections (a header line a second, for up to {args.hold_s:.0f} s): "
                  f"kept open {statistics.median(lifetimes):.1f} s median, {max(lifetimes):.1f} s max; all gone "
                  f"after {time.monotonic() - t0:.1f} s; a real request meanwhile: "
                  f"{statistics.median(latencies) * 1000:.0f} ms median, {max(latencies) * 1000:.0f} ms max, "
                  f"{len(failures)} of {len(latencies)} failed {sorted(set(failures))}", flush=True)

            with socket.create_connection(("127.0.0.1", port)) as s:
                s.settimeout(120)
                t1 = time.monotonic()
                s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                while s.recv(65536):
                    pass
                print(f"an idle keep-alive connection is closed after {time.monotonic() - t1:.1f} s", flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0
