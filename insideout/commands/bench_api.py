"""Benchmark the HTTP API: full captcha cycles at several concurrencies, beside the framework's floor.

A cycle is: create a challenge, fetch each clip's audio, answer (the control right, read from the
server's database, as a solving human would), verify the token. By default this starts its own
server (`insideout serve` in a subprocess) on a fresh data dir stocked with synthetic clips, so the
numbers are reproducible; --url points it at a server you run yourself instead (it must share
--data-dir so the benchmark can answer right).

    insideout bench-api [--seconds 10] [--concurrency 1 8 32]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import numpy as np

from insideout.cli import CommandError
from insideout.db import Database
from insideout.emotions import EMOTION_IDS
from insideout.library import ClipInfo, Library
from insideout.settings import Settings, ensure_secret_key
from insideout.sites import Sites
from insideout.storage import LocalStore

if TYPE_CHECKING:
    from insideout.cli import Context


def stock(data_dir: Path, play: int, unverified: int) -> None:
    settings = Settings(data_dir=data_dir)
    library = Library(Database(settings.db_path), LocalStore(settings.audio_dir))
    rng = np.random.default_rng(0)
    t = np.arange(int(2.0 * 22050)) / 22050  # 2 s clips, the size of a real one
    for i in range(play + unverified):
        x = (0.3 * np.sin(2 * np.pi * (110 + i) * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
        if i < play:
            library.add(x, 22050, "play", ClipInfo(source="test", label=EMOTION_IDS[i % 8]))
        else:
            library.add(x, 22050, "unverified", ClipInfo(source="test"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, env: dict[str, str] | None = None,
                 timeout_s: float = 120) -> tuple[subprocess.Popen, str]:
    """`insideout serve` on a free loopback port for a benchmark (no rate limits; `env` adds or overrides
    settings); returns the process and its URL once /api/v1/health answers."""
    port = free_port()
    env = {
        **os.environ,
        "INSIDEOUT_DATA_DIR": str(data_dir),
        "INSIDEOUT_PORT": str(port),
        "INSIDEOUT_STARTER_LIBRARY": "0",
        "INSIDEOUT_RATE_LIMIT_PER_MIN": "10000000",
        "INSIDEOUT_REQUEST_LIMIT_PER_MIN": "10000000",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
        **(env or {}),
    }
    proc = subprocess.Popen([sys.executable, "-m", "insideout", "serve"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, wait_until_up(proc, port, timeout_s, "the server")


def wait_until_up(proc: subprocess.Popen, port: int, timeout_s: float, what: str) -> str:
    """The URL of a server process on this loopback port once /api/v1/health answers; CommandError if it dies
    or does not answer within timeout_s (it is then killed)."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise CommandError(f"{what} stopped at start (exit code {proc.returncode})", 1)
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return url
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise CommandError(f"{what} did not start", 1)


class Answerer:
    """Reads the control's label from the server's database, as only a test harness can."""

    def __init__(self, data_dir: Path):
        settings = ensure_secret_key(Settings(data_dir=data_dir))
        self.db = Database(settings.db_path)
        self.secret = Sites(self.db, settings.secret_key).builtin_secret()  # the site of `{}` challenges

    def answers(self, challenge_id: str) -> dict[str, str]:
        challenge = self.db.get_challenge(challenge_id)
        out = {}
        for s in challenge.slots:
            out[s.slot] = self.db.get_clip(s.clip_id)["label"] if s.is_control else "calm"
        return out


def run_workers(worker, concurrency: int) -> float:
    """Run `concurrency` copies of worker at once; returns the seconds they took."""
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def run_cycles(url: str, answerer: Answerer, concurrency: int, seconds: float) -> dict:
    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    cycles = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def timed(client, name, method, path, **kw):
        t0 = time.perf_counter()
        r = client.request(method, path, **kw)
        dt = time.perf_counter() - t0
        with lock:
            timings[name].append(dt)
        return r

    def worker():
        nonlocal cycles
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.perf_counter() < stop_at:
                r = timed(client, "create", "POST", "/api/v1/challenges", json={})
                if r.status_code != 201:
                    errors.append(f"create {r.status_code}")
                    continue
                c = r.json()
                for clip in c["clips"]:
                    timed(client, "audio", "GET", clip["audio_url"])
                given = answerer.answers(c["challenge_id"])
                r = timed(client, "answer", "POST", f"/api/v1/challenges/{c['challenge_id']}/answer",
                          json={"answers": given})
                token = r.json().get("token")
                if not token:
                    errors.append(f"answer {r.status_code} {r.json().get('status')}")
                    continue
                r = timed(client, "siteverify", "POST", "/api/v1/siteverify",
                          json={"secret": answerer.secret, "response": token})
                if not r.json().get("success"):
                    errors.append("siteverify failed")
                    continue
                with lock:
                    cycles += 1

    elapsed = run_workers(worker, concurrency)
    return {"cycles_per_s": cycles / elapsed, "timings": timings, "errors": errors}


def run_floor(url: str, concurrency: int, seconds: float) -> dict:
    timings: list[float] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker():
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                client.get("/api/v1/health")
                with lock:
                    timings.append(time.perf_counter() - t0)

    elapsed = run_workers(worker, concurrency)
    return {"requests_per_s": len(timings) / elapsed, "timings": timings}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, q)) * 1000


def row(name: str, values: list[float]) -> str:
    return (f"  {name:<11} n={len(values):>6}  p50={pct(values, 50):7.1f} ms  "
            f"p95={pct(values, 95):7.1f} ms  p99={pct(values, 99):7.1f} ms")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--data-dir", help="the data dir of --url's server")
    parser.add_argument("--seconds", type=float, default=10.0, help="per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--play", type=int, default=400, help="play clips to stock (own server)")
    parser.add_argument("--unverified", type=int, default=200)


def run(args: argparse.Namespace, ctx: Context) -> int:
    proc = None
    if args.url:
        if not args.data_dir:
            raise CommandError("--url needs --data-dir (to answer right)")
        url, data_dir = args.url.rstrip("/"), Path(args.data_dir)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="insideout-bench-"))
        print(f"stocking {args.play} play and {args.unverified} unverified 2 s clips in {data_dir} ...")
        stock(data_dir, args.play, args.unverified)
        proc, url = start_server(data_dir)
    answerer = Answerer(data_dir)
    print(f"server {url}; {os.cpu_count()} CPUs; {args.seconds:.0f} s per level")
    try:
        run_cycles(url, answerer, 2, 2.0)  # warm up
        for c in args.concurrency:
            floor = run_floor(url, c, args.seconds)
            result = run_cycles(url, answerer, c, args.seconds)
            print(f"\nconcurrency {c}")
            print(f"  health floor {floor['requests_per_s']:8.1f} req/s")
            print(row("health", floor["timings"]))
            print(f"  full cycles  {result['cycles_per_s']:8.1f} cycles/s "
                  f"({result['cycles_per_s'] / floor['requests_per_s']:.2f} of the floor's rate)")
            for name in ("create", "audio", "answer", "siteverify"):
                print(row(name, result["timings"][name]))
            if result["errors"]:
                print(f"  errors: {len(result['errors'])}, e.g. {statistics.mode(result['errors'])}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    return 0
