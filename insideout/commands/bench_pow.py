"""Benchmark proof of work (insideout/pow.py): what a puzzle costs the server, a bot and a person's browser.

- The server: issuing a puzzle, then checking and spending its solution, in process (µs per challenge), and
  GET /api/v1/pow over HTTP on loopback.
- A bot: the Python solver (insideout.pow.solve, one core; its thread's CPU time), per difficulty; and, when
  `openssl` is on the PATH, what native SHA-256 on one core would take for the same tries (a bot in C pays
  about that).
- A browser: Debian's Chromium, headless, driven by Playwright, on a page of the real app served on loopback,
  solving with the app's own script (/api/v1/pow.js) by each engine: Web Crypto ('subtle') and
  plain JavaScript ('js'), timed by the page's clock (wall time: a busy machine slows it). Every browser
  solution is checked by the server's rules.

Each solver solves the same puzzles, so they find the same nonces and differ only in speed; tries vary a lot from
puzzle to puzzle (2**difficulty on average), hence the median and the 90th percentile.

    insideout bench-pow [--difficulties 0 8 12 14 16 18 20] [--solves 9] [--engines subtle js] [--no-browser]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from insideout import pow as proof
from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SOLVE_IN_PAGE = """async ([puzzle, engine]) => {
  const started = performance.now();
  const solution = await InsideOutPow.solve(puzzle, {engine});
  return [solution, performance.now() - started];
}"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--difficulties", type=int, nargs="+", default=[0, 8, 12, 14, 16, 18, 20],
                        help="leading zero bits to measure")
    parser.add_argument("--solves", type=int, default=9, help="puzzles per difficulty (the same for every solver)")
    parser.add_argument("--engines", nargs="+", default=["subtle", "js"], choices=["subtle", "js"],
                        help="the browser script's engines to measure")
    parser.add_argument("--server-rounds", type=int, default=20_000, help="issue+check+spend rounds timed")
    parser.add_argument("--no-browser", action="store_true", help="skip the browser (and the HTTP server)")


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def server_cost(rounds: int, secret: str) -> dict[str, float]:
    """µs per challenge of each step the server takes for a puzzle: issue; parse and check; spend."""
    solutions = [proof.solve(proof.issue(secret, 0)) for _ in range(rounds)]  # checking costs the same at any bits
    wire = [s.as_dict() for s in solutions]
    spent = proof.SpentPuzzles(max_entries=rounds + 1)
    t0 = time.perf_counter()
    for _ in range(rounds):
        proof.issue(secret, 16)
    t1 = time.perf_counter()
    for data in wire:
        proof.check(proof.parse_solution(data), secret, required=0)
    t2 = time.perf_counter()
    for s in solutions:
        spent.spend(s.puzzle)
    t3 = time.perf_counter()
    return {"issue": (t1 - t0) / rounds * 1e6, "check": (t2 - t1) / rounds * 1e6, "spend": (t3 - t2) / rounds * 1e6}


def native_rate() -> float | None:
    """SHA-256 digests per second of 48-byte texts on one core by OpenSSL, or None without `openssl`."""
    if not shutil.which("openssl"):
        return None
    try:
        out = subprocess.run(["openssl", "speed", "-evp", "sha256", "-bytes", "48", "-seconds", "2"],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"^sha256\s+([\d.]+)k\s*$", out, re.M)
    return float(match.group(1)) * 1000 / 48 if match else None


class App:
    """The real app (insideout.web.create_app) on a free loopback port, in a thread, over an empty temp data dir."""

    def __init__(self, secret: str):
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import uvicorn

        from insideout.services import build_services
        from insideout.settings import Settings
        from insideout.web import create_app

        self.tmp = tempfile.TemporaryDirectory(prefix="insideout-bench-pow-")
        settings = Settings(data_dir=Path(self.tmp.name) / "data", secret_key=secret, starter_library=False,
                            rate_limit_per_min=10_000_000, request_limit_per_min=10_000_000, pow_difficulty=16)
        self.services = build_services(settings, announce=lambda _: None)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(create_app(self.services), host="127.0.0.1", port=port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> App:
        self.thread.start()
        deadline = time.time() + 120
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise CommandError("the app did not start", 1)
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.services.db.close()
        self.tmp.cleanup()


def http_latency(url: str, n: int = 300) -> list[float]:
    import httpx

    times = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(n):
            t0 = time.perf_counter()
            r = client.get("/api/v1/pow")
            times.append(time.perf_counter() - t0)
            if r.status_code != 200:
                raise CommandError(f"GET /api/v1/pow answered {r.status_code}", 1)
    return times


def browser_times(url: str, puzzles: dict[int, list[proof.Puzzle]], engines: list[str],
                  secret: str) -> dict[tuple[int, str], list[float]]:
    """Seconds per solve in Chromium, per (difficulty, engine); every solution checked by the server's rules."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise CommandError(f"no browser at {CHROMIUM} (bash .ci/install_browser.sh), or --no-browser", 1)
    out: dict[tuple[int, str], list[float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{url}/api/v1/health")  # a page of the app: http on loopback is a secure context
            page.add_script_tag(url="/api/v1/pow.js")
            page.evaluate(SOLVE_IN_PAGE, [proof.issue(secret, 8).as_dict(), "js"])  # warm the JIT up
            for difficulty, batch in puzzles.items():
                for engine in engines:
                    times = out[(difficulty, engine)] = []
                    for puzzle in batch:
                        solution, elapsed_ms = page.evaluate(SOLVE_IN_PAGE, [puzzle.as_dict(), engine])
                        try:
                            proof.check(proof.parse_solution(solution), secret, required=difficulty)
                        except proof.PowRefused as e:
                            raise CommandError(f"the browser's {engine} solution was refused: {e.message}", 1) from None
                        times.append(elapsed_ms / 1000)
                    print(f"  browser {engine:<6} {difficulty:>2} bits: median {ms(times, 50):9.1f} ms", flush=True)
        except PlaywrightError as e:
            raise CommandError(f"the browser failed: {str(e).splitlines()[0]}", 1) from None
        finally:
            browser.close()
    return out


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.solves < 1 or any(not 0 <= d <= 32 for d in args.difficulties):
        raise CommandError("--solves must be at least 1 and --difficulties between 0 and 32")
    secret = secrets.token_urlsafe(32)
    print(f"{os.cpu_count()} CPUs; {args.solves} puzzles per difficulty, the same for every solver")

    cost = server_cost(args.server_rounds, secret)
    total = sum(cost.values())
    print(f"server, in process: issue {cost['issue']:.1f} µs + check {cost['check']:.1f} µs + spend "
          f"{cost['spend']:.1f} µs = {total:.1f} µs per challenge ({1e6 / total:,.0f} challenges/s on one core)")

    # A day to live: the browser checks the Python solver's puzzles minutes later.
    puzzles = {d: [proof.issue(secret, d, ttl_s=86_400) for _ in range(args.solves)] for d in args.difficulties}
    tries: dict[int, list[int]] = {}
    python: dict[int, list[float]] = {}
    for d, batch in puzzles.items():
        tries[d], python[d] = [], []
        for puzzle in batch:
            t0 = time.thread_time()  # CPU: the solver's cost, whatever else the machine runs
            solution = proof.solve(puzzle)
            python[d].append(time.thread_time() - t0)
            tries[d].append(int(solution.nonce, 16) + 1)
        print(f"  python        {d:>2} bits: median {ms(python[d], 50):9.1f} ms", flush=True)
    rate = native_rate()

    browser: dict[tuple[int, str], list[float]] = {}
    if not args.no_browser:
        with App(secret) as app:
            latency = http_latency(app.url)
            print(f"server, GET /api/v1/pow over HTTP on loopback: median {ms(latency, 50):.2f} ms, "
                  f"p90 {ms(latency, 90):.2f} ms")
            browser = browser_times(app.url, puzzles, args.engines, secret)

    columns = ["bits", "tries median", "python bot CPU ms (median / p90)"]
    if rate:
        columns.append("native est. ms")
    columns += [f"browser {e} ms (median / p90)" for e in (args.engines if browser else [])]
    rows = [columns]
    for d in args.difficulties:
        row = [str(d), f"{np.median(tries[d]):,.0f}", f"{ms(python[d], 50):.1f} / {ms(python[d], 90):.1f}"]
        if rate:
            row.append(f"{np.median(tries[d]) / rate * 1000:.2f}")
        row += [f"{ms(browser[(d, e)], 50):.1f} / {ms(browser[(d, e)], 90):.1f}" for e in args.engines if browser]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    print()
    for r in rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)))
    all_tries = sum((tries[d] for d in args.difficulties), [])
    print(f"\nhashes per second: python {sum(all_tries) / sum(sum(python.values(), [])):,.0f}"
          + (f", native (openssl, one core) {rate:,.0f}" if rate else "")
          + "".join(f", browser {e} {sum(all_tries) / sum(sum((browser[(d, e)] for d in args.difficulties), [])):,.0f}"
                    for e in (args.engines if browser else [])))
    return 0
