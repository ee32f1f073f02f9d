"""Benchmark the HTTP API: full captcha cycles at several concurrencies, beside the framework's floor.

A cycle is: create a challenge, fetch each clip's audio, answer (the control right, read from the
server's database, as a solving human would), verify the token. By default this starts its own
server (`insideout serve` in a subprocess) on a fresh data dir stocked with synthetic clips, so the
numbers are reproducible; --url points it at a server you run yourself instead (it must share
--data-dir so the benchmark can answer right).

    insideout bench-api [--seconds 10] [--concurrency 1 8 32] [--compare-dynamodb [--cost-cycles 50]]

--compare-dynamodb runs the same benchmark, in the same run, against two replicas (`insideout serve` twice)
sharing DynamoDB and S3 on moto's server on loopback (moto[server], requirements-dev.txt), each worker's
requests alternating between them; then it plays --cost-cycles cycles one at a time and counts every DynamoDB
request the replicas made, with the capacity units AWS would charge (insideout.db.dynamo_cost) and the on-demand
price per million challenges. moto is no measure of AWS's latency: read the figures relative to SQLite's.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import secrets
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
from insideout.db import Database, Metadata
from insideout.emotions import EMOTION_IDS
from insideout.library import ClipInfo, Library
from insideout.settings import Settings, ensure_secret_key
from insideout.sites import Sites
from insideout.storage import LocalStore

if TYPE_CHECKING:
    from insideout.cli import Context
    from insideout.db.dynamo_cost import Meter


def stock(data_dir: Path, play: int, unverified: int) -> None:
    settings = Settings(data_dir=data_dir)
    stock_library(Library(Database(settings.db_path), LocalStore(settings.audio_dir)), play, unverified)


def stock_library(library: Library, play: int, unverified: int) -> None:
    """Synthetic 2 s clips: play ones labelled in turn with each emotion, and unverified ones."""
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


def start_server(data_dir: Path, env: dict[str, str] | None = None, timeout_s: float = 120,
                 command: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    """`insideout serve` (or `command`, e.g. `python app.py`, run from the current directory) on a free loopback
    port for a benchmark (no rate limits; `env` adds or overrides settings); returns the process and its URL once
    /api/v1/health answers."""
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
    proc = subprocess.Popen(command or [sys.executable, "-m", "insideout", "serve"], env=env,
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

    def __init__(self, data_dir: Path | None = None, db: Metadata | None = None, secret_key: str | None = None):
        if db is None:
            settings = ensure_secret_key(Settings(data_dir=data_dir))
            db, secret_key = Database(settings.db_path), settings.secret_key
        self.db = db
        self.secret = Sites(self.db, secret_key).builtin_secret()  # the site of `{}` challenges

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


# A cycle's visitor: its own address (the servers trust loopback as a proxy), as a crowd's would be.
VISITORS = (f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in itertools.count(1))
# No serve budget and no restock: rendering fresh clips would take the CPU the benchmark measures (bench-restock
# measures it); a deployment with them adds a fresh clip's row per clip the budget spends.
SERVER_ENV = {"INSIDEOUT_TRUSTED_PROXIES": "127.0.0.1/32", "INSIDEOUT_SERVE_BUDGET": "0",
              "INSIDEOUT_PLAY_POOL_TARGET": "0"}


def run_cycles(urls: list[str], answerer: Answerer, concurrency: int, seconds: float,
               at_most: int | None = None) -> dict:
    """Full cycles by `concurrency` workers for `seconds` (or until at_most are done); each worker's requests go
    to the urls in turn."""
    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    cycles = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def timed(clients, name, method, path, **kw):
        t0 = time.perf_counter()
        r = next(clients).request(method, path, **kw)
        dt = time.perf_counter() - t0
        with lock:
            timings[name].append(dt)
        return r

    def worker():
        nonlocal cycles
        with contextlib.ExitStack() as stack:
            client = itertools.cycle([stack.enter_context(httpx.Client(base_url=u, timeout=60)) for u in urls])
            while time.perf_counter() < stop_at and (at_most is None or cycles < at_most):
                visitor = {"X-Forwarded-For": next(VISITORS)}  # each cycle a visitor of its own
                r = timed(client, "create", "POST", "/api/v1/challenges", json={}, headers=visitor)
                if r.status_code != 201:
                    errors.append(f"create {r.status_code}")
                    continue
                c = r.json()
                for clip in c["clips"]:
                    timed(client, "audio", "GET", clip["audio_url"], headers=visitor)
                given = answerer.answers(c["challenge_id"])
                r = timed(client, "answer", "POST", f"/api/v1/challenges/{c['challenge_id']}/answer",
                          json={"answers": given}, headers=visitor)
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
    parser.add_argument("--compare-dynamodb", action="store_true",
                        help="also two replicas sharing DynamoDB and S3 on moto, and a cycle's DynamoDB cost")
    parser.add_argument("--cost-cycles", type=int, default=50, help="cycles whose DynamoDB requests are counted")


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
        proc, url = start_server(data_dir, SERVER_ENV)
    print(f"{os.cpu_count()} CPUs; {args.seconds:.0f} s per level")
    try:
        sqlite = levels(f"one replica, SQLite and local audio ({url})", [url], Answerer(data_dir), args)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
    if args.compare_dynamodb:
        dynamo = compare_dynamodb(args)
        print("\nrelative: two DynamoDB replicas on moto against one SQLite replica (cycles/s)")
        for c in args.concurrency:
            print(f"  concurrency {c:>3}  {dynamo[c]:7.1f} / {sqlite[c]:7.1f} = {dynamo[c] / sqlite[c]:.2f}")
    return 0


def levels(title: str, urls: list[str], answerer: Answerer, args: argparse.Namespace) -> dict[int, float]:
    """The benchmark at each concurrency against these servers, printed; cycles/s per concurrency."""
    print(f"\n== {title}")
    run_cycles(urls, answerer, 2, 2.0)  # warm up
    rates = {}
    for c in args.concurrency:
        floor = run_floor(urls[0], c, args.seconds)
        result = run_cycles(urls, answerer, c, args.seconds)
        rates[c] = result["cycles_per_s"]
        print(f"\nconcurrency {c}")
        print(f"  health floor {floor['requests_per_s']:8.1f} req/s")
        print(row("health", floor["timings"]))
        print(f"  full cycles  {result['cycles_per_s']:8.1f} cycles/s "
              f"({result['cycles_per_s'] / floor['requests_per_s']:.2f} of the floor's rate)")
        for name in ("create", "audio", "answer", "siteverify"):
            print(row(name, result["timings"][name]))
        if result["errors"]:
            print(f"  errors: {len(result['errors'])}, e.g. {statistics.mode(result['errors'])}")
    return rates


HARNESS = "insideout-bench-harness"  # the benchmark's own DynamoDB client: not part of what a cycle costs


def metered(records: list, harness) -> Meter:
    """The cost of the DynamoDB requests the server recorded, the harness's own left out; updates and deletes
    charged at their items' sizes now."""
    from insideout.db.dynamo_cost import Meter, item_size, key_id

    meter = Meter()
    for operation, agent, request, response in records:
        if HARNESS not in agent:
            meter.add(operation, json.loads(request or b"{}"), json.loads(response or b"{}"))
    sizes = {}
    for table, key, _, _ in meter.pending:
        found = harness.d.client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        sizes[(table, key_id(key))] = item_size(found) if found else 0
    meter.charge(sizes)
    return meter


def compare_dynamodb(args: argparse.Namespace) -> dict[int, float]:
    """Two replicas on DynamoDB and S3 (moto on loopback): the benchmark, then a cycle's DynamoDB cost."""
    try:
        import boto3

        from insideout.moto_server import MotoProcess
    except ImportError:
        raise CommandError("--compare-dynamodb needs moto's server: pip install -r requirements-dev.txt") from None
    from insideout.db.dynamo_client import Dynamo
    from insideout.services import build_services
    from insideout.settings import settings_from_env

    port = free_port()
    moto = MotoProcess(port)  # its own process: moto is slow Python, and would share this one's interpreter
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    os.environ.update(credentials)  # this process's clients (stocking, answering) and the replicas'
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="bench-audio")
    env = {**credentials, "INSIDEOUT_METADATA": "dynamodb", "INSIDEOUT_DYNAMODB_TABLE_PREFIX": "bench-",
           "INSIDEOUT_DYNAMODB_ENDPOINT_URL": endpoint, "INSIDEOUT_STORAGE": "s3", "INSIDEOUT_S3_BUCKET": "bench-audio",
           "INSIDEOUT_S3_ENDPOINT_URL": endpoint, "INSIDEOUT_S3_ADDRESSING_STYLE": "path",
           "INSIDEOUT_SECRET_KEY": secrets.token_urlsafe(32), **SERVER_ENV}
    Dynamo("bench-", endpoint).create_tables()
    here = Path(tempfile.mkdtemp(prefix="insideout-bench-dynamodb-"))
    services = build_services(settings_from_env({**env, "INSIDEOUT_DATA_DIR": str(here / "stock")}),
                              announce=lambda _: None)
    print(f"\nstocking {args.play} play and {args.unverified} unverified 2 s clips in DynamoDB and S3 on moto ...")
    moto.metering.set()
    stock_library(services.library, args.play, args.unverified)
    moto.metering.clear()
    from insideout.db.dynamodb import DynamoDBMetadata

    harness = DynamoDBMetadata("bench-", endpoint, agent=HARNESS)
    adding = metered(moto.drain(), harness)
    answerer = Answerer(db=harness, secret_key=env["INSIDEOUT_SECRET_KEY"])
    started = [start_server(here / f"replica{i}", env) for i in range(2)]
    urls = [u for _, u in started]
    try:
        rates = levels(f"two replicas, DynamoDB and S3 on moto ({', '.join(urls)})", urls, answerer, args)
        moto.metering.set()
        result = run_cycles(urls, answerer, 1, 3600.0, at_most=args.cost_cycles)
        moto.metering.clear()
        if result["errors"]:
            raise CommandError(f"the cost cycles failed: {statistics.mode(result['errors'])}", 1)
    finally:
        for proc, _ in started:
            proc.terminate()
            proc.wait(10)
    meter = metered(moto.drain(), harness)
    n = max(1, args.cost_cycles)
    print(f"\nDynamoDB per full captcha cycle (create, 2 audio, answer, siteverify), over {n} cycles:")
    for operation, count in sorted(meter.requests.items()):
        print(f"  {operation:<20} {count / n:6.2f} requests")
    print(f"  {'all':<20} {sum(meter.requests.values()) / n:6.2f} requests")
    print(f"  read request units  {meter.read_units / n:6.2f}   write request units {meter.write_units / n:6.2f}")
    for what, units in meter.units.most_common():
        print(f"    {what:<40} {units / n:6.2f} units")
    print(f"  on-demand price: ${meter.cost(n) * 1e6:.2f} per million challenges (us-east-1, $0.125 per million "
          "read and $0.625 per million write request units)")
    clips = args.play + args.unverified
    print(f"a clip added (each fresh clip the restock renders under a serve budget): "
          f"{sum(adding.requests.values()) / clips:.2f} requests, {adding.write_units / clips:.2f} write units, "
          f"${adding.cost(clips) * 1e6:.2f} per million clips")
    moto.stop()
    return rates
