"""Benchmark the audio stores: put, get and move per second and their p95, for the local store and for S3
(moto's server on loopback, in a process of its own) in the same run, one request at a time.

    insideout bench-store [--ops 200] [--audio-seconds 2.0]

put: one clip's WAV written to a pool. get: one read back. move: Library.move between pools, the whole
crash-safe sequence (record the pool in SQLite, copy, read back and check the sha256, repoint, delete).
moto keeps objects in memory on loopback: the S3 numbers are the client's and the protocol's cost, not
S3's network round trips (tens of ms each on AWS, so expect far fewer operations per second there).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from insideout import wav
from insideout.cli import CommandError
from insideout.db import Database
from insideout.library import ClipInfo, Library
from insideout.pools import POOLS
from insideout.settings import S3Location, S3Settings
from insideout.storage import AudioStore, LocalStore, S3Store, new_audio_name

if TYPE_CHECKING:
    from insideout.cli import Context


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise CommandError("moto's server did not start (pip install 'moto[server]')", 1)


def s3_store(url: str) -> S3Store:
    import boto3

    session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench")
    bucket = f"bench-{uuid.uuid4().hex[:12]}"
    session.client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket=bucket)
    settings = S3Settings(locations=tuple(S3Location(p, bucket, f"{p}/") for p in POOLS), endpoint_url=url,
                          region="us-east-1", addressing_style="path", checksum_mode="when_required")
    store = S3Store(settings, session)
    store.check()
    return store


def timed(calls: list[Callable[[], object]]) -> list[float]:
    seconds = []
    for call in calls:
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return seconds


def bench(store: AudioStore, workdir: Path, ops: int, audio: np.ndarray) -> dict[str, list[float]]:
    library = Library(Database(workdir / "bench.db"), store)
    data = wav.encode(wav.to_storage(audio, wav.SAMPLE_RATE))
    clips = [library.add(audio, wav.SAMPLE_RATE, "unverified", ClipInfo(source="test")) for _ in range(ops)]
    names = [library.clip(c)["audio_name"] for c in clips]
    return {
        "put": timed([lambda: store.put("play", new_audio_name(), data) for _ in range(ops)]),
        "get": timed([lambda n=n: store.get("unverified", n) for n in names]),
        "move": timed([lambda c=c: library.move(c, "unverified", "learning", label="sad") for c in clips]),
    }


def row(store: str, op: str, seconds: list[float]) -> str:
    p95 = float(np.percentile(seconds, 95)) * 1000
    return (f"| {store:<22} | {op:<4} | {len(seconds) / sum(seconds):>8.0f} | "
            f"{statistics.median(seconds) * 1000:>7.2f} | {p95:>7.2f} |")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ops", type=int, default=200, help="operations of each kind per store (default 200)")
    parser.add_argument("--audio-seconds", type=float, default=2.0, help="length of the clip (default 2.0 s)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    t = np.arange(int(args.audio_seconds * wav.SAMPLE_RATE)) / wav.SAMPLE_RATE
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    results: dict[str, dict[str, list[float]]] = {}
    moto, url = start_moto()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "local").mkdir()
            (root / "s3").mkdir()
            results["local (disk)"] = bench(LocalStore(root / "local" / "audio"), root / "local", args.ops, audio)
            results["s3 (moto, loopback)"] = bench(s3_store(url), root / "s3", args.ops, audio)
    finally:
        moto.terminate()
        moto.wait(10)
    size_kb = len(wav.encode(wav.to_storage(audio, wav.SAMPLE_RATE))) / 1024
    print(f"{args.ops} operations of each kind, one at a time; a {args.audio_seconds:g} s clip is {size_kb:.0f} KiB")
    print("| store                  | op   |    ops/s |  p50 ms |  p95 ms |")
    print("|------------------------|------|----------|---------|---------|")
    for store, ops in results.items():
        for op, seconds in ops.items():
            print(row(store, op, seconds))
    return 0
