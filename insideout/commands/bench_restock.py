"""Benchmark fresh clips: the restocker's synthesis rate against the challenges it can feed, and what a
client that asks faster than that meets.

    insideout bench-restock [--clips 40] [--seconds 60] [--serve-budget 1] [--pool 48]

1. Synthesis: the restocker renders --clips new clips into a temporary library (one core, as it runs in
   the app) and prints clips per second. With a serve budget B, a challenge uses about R * S / B play clips
   (R rounds a visitor plays, S = 1 control + 1 decoy once no unverified clip is left for them, else 1), so
   it prints the challenges per second and per minute the measured rate sustains for B = 1, 2, 3, 5.
2. Demand beyond it: the real app on loopback with the serve budget, a play pool target of --pool fresh
   clips (rendered first) and the restocker running; one client opens challenges (answering each round
   with a guess) as fast as the API lets it, for --seconds. Prints the challenges served per second, how
   many were refused for want of clips (HTTP 503 no_clips), the clips rendered meanwhile, and the pool's
   size over time: what a site sees when demand outruns synthesis.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", type=int, default=40, help="clips to render for the synthesis rate")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the client asks beyond supply")
    parser.add_argument("--serve-budget", type=int, default=1)
    parser.add_argument("--pool", type=int, default=48, help="the play pool target of the demand run")


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.clips < 1 or args.seconds <= 0 or args.serve_budget < 1 or args.pool < 4:
        raise CommandError("--clips >= 1, --seconds > 0, --serve-budget >= 1 and --pool >= 4, please")
    with tempfile.TemporaryDirectory(prefix="insideout-bench-restock-") as tmp:
        rate = synthesis(Path(tmp) / "synthesis", args.clips)
        print(f"synthesis: {rate:.2f} clips/s on one core ({args.clips} clips)")
        print("challenges it sustains (R = 1.5 rounds of 2 play clips each: 3 play servings per challenge):")
        for budget in (1, 2, 3, 5):
            per_s = rate * budget / 3.0
            print(f"  serve budget {budget}: {per_s:.2f} challenges/s = {per_s * 60:.0f}/min")
        demand(Path(tmp) / "demand", args.seconds, args.serve_budget, args.pool)
    return 0


def synthesis(data_dir: Path, clips: int) -> float:
    from insideout.restock import Restocker
    from insideout.services import build_services
    from insideout.settings import Settings

    services = build_services(Settings(data_dir=data_dir, secret_key="b" * 32), announce=lambda _: None)
    restock = Restocker(services.library, target=clips)
    restock.step()  # the voices load once: not part of the rate
    started, before = time.perf_counter(), restock.rendered
    restock.fill()
    return (restock.rendered - before) / (time.perf_counter() - started)


def demand(data_dir: Path, seconds: float, budget: int, pool: int) -> None:
    import httpx
    import uvicorn

    from insideout.emotions import EMOTION_IDS
    from insideout.services import build_services
    from insideout.settings import Settings
    from insideout.web import create_app

    from .bench_store import free_port

    settings = replace(Settings(data_dir=data_dir, secret_key="d" * 32), starter_library=False, serve_budget=budget,
                       play_pool_target=pool, rate_limit_per_min=10_000_000, request_limit_per_min=10_000_000,
                       max_rounds=3, rounds_to_pass=1)
    services = build_services(settings, announce=lambda _: None)
    print(f"demand: rendering the first {pool} clips ...", flush=True)
    services.restock.fill()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    services.restock.start()
    rendered_before = services.restock.rendered
    rng = random.Random(0)
    served = refused = 0
    sizes: list[tuple[float, int]] = []
    started = time.perf_counter()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            while (elapsed := time.perf_counter() - started) < seconds:
                if not sizes or elapsed - sizes[-1][0] >= seconds / 10:
                    sizes.append((elapsed, services.db.count_pickable("play")))
                created = http.post("/api/v1/challenges", json={})
                if created.status_code == 503:
                    refused += 1
                    time.sleep(0.2)
                    continue
                if created.status_code != 201:
                    raise CommandError(f"the server answered {created.status_code}: {created.text[:200]}")
                body = created.json()
                served += 1
                while True:
                    answers = {c["slot"]: rng.choice(EMOTION_IDS) for c in body["clips"]}
                    result = http.post(f"/api/v1/challenges/{body['challenge_id']}/answer",
                                       json={"answers": answers})
                    if result.status_code != 200 or result.json()["status"] != "retry":
                        break
                    body = {**result.json(), "challenge_id": body["challenge_id"]}
    finally:
        services.restock.stop()
        server.should_exit = True
        thread.join(10)
    elapsed = time.perf_counter() - started
    rendered = services.restock.rendered - rendered_before
    print(f"demand beyond supply, serve budget {budget}, pool target {pool}, {elapsed:.0f} s:")
    print(f"  challenges served {served} ({served / elapsed:.2f}/s), refused for want of clips {refused}")
    print(f"  clips rendered meanwhile {rendered} ({rendered / elapsed:.2f}/s)")
    print("  play pool over time: " + ", ".join(f"{t:.0f} s: {n}" for t, n in sizes))
