"""The load test: simulated visitors play the captcha over HTTP against a real server while a generation job writes
to the same library, then the engine's invariants are checked (insideout.invariants). `insideout load-test` only
parses and prints; everything it runs is here, importable and testable.

A visitor is a thread with its own HTTP client and its own address (the server trusts loopback as a proxy, so
each visitor's X-Forwarded-For names it, in its own /24: a crowd, not one client). It opens a challenge, fetches
each clip's audio, answers every round (the control right at `right_rate`, read from the server's database as
only a harness can; on the unverified clip a vote that agrees with the clip's own emotion at `agree_rate`, so
clips reach consensus and move pools under load), and redeems a pass with siteverify and the built-in site's
secret. Every answer the server acknowledged is kept, to check afterwards that it and its vote were stored.

The generation runs inside the server (the admin's "generate" in the Gradio app, signed in as admin with a pass
token, as a person would: the job runs in the server process beside the requests), or as a second process
(`insideout generate` on the same data dir: a second writer), one job after another until the visitors stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .emotions import EMOTION_IDS
from .invariants import Acknowledged, Violation, check, lost_votes
from .settings import Settings, load_settings

if TYPE_CHECKING:
    from .db import Metadata
    from .storage import AudioStore

ENDPOINTS = ("create", "audio", "answer", "siteverify")
GENERATION_MODES = ("server", "process", "off")
GENERATE_KIND = "generate"  # insideout.jobs.GENERATE, without importing the job runner

# The server the load test starts: no rate limits (start_server's), no bot verdict (a visitor's wrong answers are
# part of the load, not a bot to stop), play clips served without a budget and no restock (the pool would run dry
# in seconds at this rate, and a restock is a third writer this test does not measure), no fine-tune (training
# would take the CPU the test measures), loopback a trusted proxy (each visitor its own address).
SERVER_ENV = {
    "INSIDEOUT_FAIL_COOLDOWN_S": "0",
    "INSIDEOUT_SERVE_BUDGET": "0",
    "INSIDEOUT_PLAY_POOL_TARGET": "0",
    "INSIDEOUT_RETRAIN_THRESHOLD": "10000000",
    "INSIDEOUT_TRUSTED_PROXIES": "127.0.0.1/32",
    "GRADIO_HEARTBEAT_INTERVAL": "1",  # open Gradio streams end soon after a client leaves, so the server stops
}


@dataclass(frozen=True)
class LoadConfig:
    visitors: int = 32
    seconds: float = 300.0
    right_rate: float = 0.8  # a visitor answers the control right this often
    agree_rate: float = 0.7  # its vote on an unverified clip agrees with the clip's own emotion this often
    generation: str = "server"  # one of GENERATION_MODES
    generate_count: int = 8  # clips per generation job
    generation_wait_s: float = 300.0  # after the visitors stop, how long the last job may take to finish
    progress_s: float = 10.0
    seed: int = 0


@dataclass(frozen=True)
class Target:
    """The server under load: its URL, its settings (data dir and store, to read answers and check invariants),
    the admin password (server-side generation), and the process when the load test started it."""

    url: str
    settings: Settings
    admin_password: str | None = None
    process: subprocess.Popen | None = None


@dataclass(frozen=True)
class GenerationLog:
    mode: str
    jobs: tuple[dict, ...] = ()  # {"id" or "pid", "state", "made", "failed", "error", "seconds"}, in order
    error: str | None = None  # why the generation stopped short (could not run, or a job did not finish)

    @property
    def made(self) -> int:
        return sum(j.get("made") or 0 for j in self.jobs)

    @property
    def failed_jobs(self) -> list[dict]:
        return [j for j in self.jobs if j.get("state") != "done"]


@dataclass(frozen=True)
class LoadReport:
    config: LoadConfig
    elapsed_s: float
    timings: dict[str, list[float]]
    errors: Counter
    passed: int
    failed: int
    acknowledged: list[Acknowledged]
    generation: GenerationLog
    violations: list[Violation]
    lost: list[Violation]
    counts: dict[str, int]
    checked_settled: bool

    @property
    def cycles(self) -> int:
        return self.passed + self.failed

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.timings.values()) + sum(self.errors.values())

    @property
    def server_errors(self) -> int:
        return sum(n for kind, n in self.errors.items() if is_server_error(kind))


def is_server_error(kind: str) -> bool:
    """An error kind that is the server's fault: a 5xx, or a connection it dropped or never answered."""
    status = kind.split()[1] if len(kind.split()) > 1 else ""
    return status.startswith("5") or status == "connection"


def ok(report: LoadReport) -> bool:
    """The load test's verdict: every request answered as a well-behaved visitor expects (no 5xx, no dropped
    connection, no refusal: limits and the bot verdict are off), every generation job done, every invariant."""
    return (not report.errors and not report.violations and not report.lost and report.generation.error is None
            and not report.generation.failed_jobs)


# -- the visitors -------------------------------------------------------------------------------------------------


class Recorder:
    """What the visitors saw, shared between their threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.timings: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter = Counter()
        self.acknowledged: list[Acknowledged] = []
        self.passed = 0
        self.failed = 0

    def call(self, client: httpx.Client, endpoint: str, method: str, path: str, expect: int,
             **kw) -> httpx.Response | None:
        """One request, timed; None (and the error counted by kind) unless it got `expect`."""
        t0 = time.perf_counter()
        try:
            r = client.request(method, path, **kw)
        except httpx.HTTPError as e:
            with self.lock:
                self.errors[f"{endpoint} connection {type(e).__name__}"] += 1
            return None
        dt = time.perf_counter() - t0
        if r.status_code != expect:
            with self.lock:
                self.errors[f"{endpoint} {r.status_code} {error_code(r)}"] += 1
            return None
        with self.lock:
            self.timings[endpoint].append(dt)
        return r

    def snapshot(self) -> tuple[int, int, int, int]:
        with self.lock:
            requests = sum(len(v) for v in self.timings.values()) + sum(self.errors.values())
            return self.passed, self.failed, requests, sum(self.errors.values())


def error_code(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return "not-json"
    return str(body.get("error", "?")) if isinstance(body, dict) else "?"


def visitor_address(i: int) -> str:
    """Visitor i's address: in 198.18.0.0/15 (the range for network benchmarks), a /24 of its own."""
    return f"198.{18 + i // 256}.{i % 256}.1"


class Answerer:
    """Reads what a round holds from the server's database (only a harness can) and answers as told."""

    def __init__(self, settings: Settings):
        from .services import build_metadata

        self.db = build_metadata(settings)

    def answers(self, challenge_id: str, rng: random.Random, right_rate: float, agree_rate: float) -> dict[str, str]:
        challenge = self.db.get_challenge(challenge_id)
        out = {}
        for s in challenge.slots:
            if s.is_control:
                label = self.db.get_clip(s.clip_id)["label"]
                out[s.slot] = label if rng.random() < right_rate else rng.choice([e for e in EMOTION_IDS if e != label])
            elif not s.is_decoy and rng.random() < agree_rate:
                out[s.slot] = own_emotion(self.db.get_clip(s.clip_id))
            else:
                out[s.slot] = rng.choice(EMOTION_IDS)
        return out


def own_emotion(clip: dict) -> str:
    """The emotion agreeing visitors hear in a clip: the one it was generated for, else one fixed by its id."""
    return clip.get("intended_emotion") or EMOTION_IDS[clip["id"] % len(EMOTION_IDS)]


def play_one(client: httpx.Client, rec: Recorder, answerer: Answerer, secret: str, rng: random.Random,
             config: LoadConfig) -> None:
    """One visit: a challenge, every round's audio and answer, and siteverify on a pass."""
    r = rec.call(client, "create", "POST", "/api/v1/challenges", 201, json={})
    if r is None:
        return
    view = r.json()
    challenge_id, round_no, clips = view["challenge_id"], view["round"], view["clips"]
    while True:
        for clip in clips:
            if rec.call(client, "audio", "GET", clip["audio_url"], 200) is None:
                return
        given = answerer.answers(challenge_id, rng, config.right_rate, config.agree_rate)
        r = rec.call(client, "answer", "POST", f"/api/v1/challenges/{challenge_id}/answer", 200,
                     json={"answers": given})
        if r is None:
            return
        out = r.json()
        with rec.lock:
            rec.acknowledged.append(Acknowledged(challenge_id, round_no, given))
        if out["status"] == "retry":
            round_no, clips = out["round"], out["clips"]
            continue
        if out["status"] == "failed":
            with rec.lock:
                rec.failed += 1
            return
        r = rec.call(client, "siteverify", "POST", "/api/v1/siteverify", 200,
                     json={"secret": secret, "response": out["token"]})
        if r is None:
            return
        if not r.json().get("success"):
            with rec.lock:
                rec.errors[f"siteverify 200 {','.join(r.json().get('error_codes') or ['not-success'])}"] += 1
            return
        with rec.lock:
            rec.passed += 1
        return


def builtin_secret(settings: Settings) -> str:
    from .services import build_metadata
    from .sites import Sites

    return Sites(build_metadata(settings), settings.secret_key).builtin_secret()


# -- the generation job -------------------------------------------------------------------------------------------


class GenerationDriver:
    """Runs generation jobs one after another until told to stop, then lets the last one finish."""

    def __init__(self, target: Target, config: LoadConfig, answerer: Answerer):
        self.target, self.config, self.answerer = target, config, answerer
        self.jobs: list[dict] = []
        self.error: str | None = None
        self.stopping = threading.Event()
        self.status = "not started"
        self.thread = threading.Thread(target=self._run, name="generation", daemon=True)

    def start(self) -> None:
        if self.config.generation != "off":
            self.thread.start()

    def finish(self) -> GenerationLog:
        """Start no new job; wait (up to generation_wait_s) for the running one; what ran."""
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(self.config.generation_wait_s + 30)
            if self.thread.is_alive():
                self.error = f"the last job did not finish within {self.config.generation_wait_s:.0f} s"
        return GenerationLog(self.config.generation, tuple(self.jobs), self.error)

    def _run(self) -> None:
        n = 0
        try:
            while not self.stopping.is_set():
                t0 = time.monotonic()
                job = self._server_job(n) if self.config.generation == "server" else self._process_job(n)
                job["seconds"] = round(time.monotonic() - t0, 1)
                self.jobs.append(job)
                n += 1
                if job.get("state") != "done":
                    break
        except Exception as e:  # noqa: BLE001 - any failure to generate is the run's finding, reported in full
            self.error = f"{type(e).__name__}: {e}"
            self.status = f"stopped: {self.error}"

    def _process_job(self, n: int) -> dict:
        env = {**os.environ, "INSIDEOUT_DATA_DIR": str(self.target.settings.data_dir), "HF_HUB_OFFLINE": "1"}
        cmd = [sys.executable, "-m", "insideout", "generate", "--count", str(self.config.generate_count),
               "--seed", str(self.config.seed + n)]
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
            self.status = f"process {proc.pid} (job {n + 1}) running"
            deadline = None
            while proc.poll() is None:
                if self.stopping.is_set() and deadline is None:
                    deadline = time.monotonic() + self.config.generation_wait_s
                if deadline is not None and time.monotonic() > deadline:
                    proc.terminate()
                time.sleep(0.5)
            out.seek(0)
            text = out.read().decode(errors="replace")
        made = failed = 0
        for line in text.splitlines():
            if line.startswith("made "):
                words = line.split()
                made, failed = int(words[1]), int(line.rsplit(",", 1)[1].split()[0])
        state = "done" if proc.returncode == 0 else f"exit {proc.returncode}"
        self.status = f"process job {n + 1} {state}, {made} made"
        return {"pid": proc.pid, "state": state, "made": made, "failed": failed,
                "error": None if proc.returncode == 0 else text[-2000:]}

    def _server_job(self, n: int) -> dict:
        from gradio_client import Client

        token = self._login_token()
        client = Client(self.target.url, verbose=False, download_files=False)
        try:
            login = client.predict("admin", self.target.admin_password, token, api_name="/login")
            if not any("admin" in str(v) and "Signed in" in str(v) for v in login):
                raise RuntimeError(f"the admin login was refused: {json.dumps(login, default=str)[:300]}")
            before = self.answerer.db.latest_job(GENERATE_KIND)
            client.predict(self.config.generate_count, list(EMOTION_IDS), "rotate", api_name="/admin_generate")
        finally:
            client.close()
        job = self.answerer.db.latest_job(GENERATE_KIND)
        if job is None or (before is not None and job["id"] == before["id"]):
            raise RuntimeError("the admin's generate queued no job")
        while job["state"] in ("queued", "running"):
            total = job["total"] or job["params"].get("count", "?")  # the total is set after the first batch
            self.status = f"job {job['id']} {job['state']} {job['progress']}/{total} clips"
            time.sleep(1.0)
            job = self.answerer.db.get_job(job["id"])
        result = job.get("result") or {}
        self.status = f"job {job['id']} {job['state']}, {result.get('made', 0)} made"
        return {"id": job["id"], "state": job["state"], "made": result.get("made", 0),
                "failed": result.get("failed", 0), "error": job.get("error")}

    def _login_token(self) -> str:
        """A pass token of the built-in site for the login form, won over the API as the widget would."""
        with httpx.Client(base_url=self.target.url, timeout=60) as http:
            view = http.post("/api/v1/challenges", json={"action": "login"})
            view.raise_for_status()
            challenge_id = view.json()["challenge_id"]
            for _ in range(view.json()["max_rounds"]):
                given = self.answerer.answers(challenge_id, random.Random(), 1.0, 0.0)
                out = http.post(f"/api/v1/challenges/{challenge_id}/answer", json={"answers": given})
                out.raise_for_status()
                if out.json().get("token"):
                    return out.json()["token"]
        raise RuntimeError("no pass token for the admin login")


# -- a run --------------------------------------------------------------------------------------------------------


def run_load(target: Target, config: LoadConfig, say: Callable[[str], None] = print) -> LoadReport:
    """Load the target for config.seconds, with the generation running; stop the server if this started it;
    check the invariants. Progress goes to `say` every config.progress_s seconds."""
    rec = Recorder()
    answerer = Answerer(target.settings)
    secret = builtin_secret(target.settings)
    generation = GenerationDriver(target, config, answerer)
    stop = threading.Event()

    def visitor(i: int) -> None:
        rng = random.Random(config.seed * 100_003 + i)
        headers = {"X-Forwarded-For": visitor_address(i)}
        with httpx.Client(base_url=target.url, timeout=60, headers=headers) as client:
            while not stop.is_set():
                play_one(client, rec, answerer, secret, rng, config)

    generation.start()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=visitor, args=(i,), name=f"visitor-{i}", daemon=True)
               for i in range(config.visitors)]
    for t in threads:
        t.start()
    next_report = t0 + config.progress_s
    while (now := time.perf_counter()) < t0 + config.seconds:
        time.sleep(min(0.5, max(0.0, next_report - now)))
        if time.perf_counter() >= next_report:
            say(progress_line(time.perf_counter() - t0, rec, generation, answerer))
            next_report += config.progress_s
    stop.set()
    for t in threads:
        t.join()  # each ends its visit in flight: every answer it started is acknowledged or counted an error
    elapsed = time.perf_counter() - t0
    if generation.thread.is_alive():
        say(f"visitors stopped after {elapsed:.0f} s; waiting for the generation job ({generation.status})")
    generated = generation.finish()
    settled = target.process is not None
    if target.process is not None:
        stop_server(target.process)
    violations = check(answerer.db, store_of(target.settings), settled=settled,
                       grace_s=0.0 if settled else 60.0)
    lost = lost_votes(answerer.db, rec.acknowledged)
    return LoadReport(config, elapsed, dict(rec.timings), rec.errors, rec.passed, rec.failed, rec.acknowledged,
                      generated, violations, lost, library_counts(answerer.db, rec.acknowledged), settled)


def progress_line(t: float, rec: Recorder, generation: GenerationDriver, answerer: Answerer) -> str:
    passed, failed, requests, errors = rec.snapshot()
    pools = answerer.db.pool_counts()
    gen = generation.status if generation.config.generation != "off" else "off"
    return (f"[{t:5.0f} s] visits {passed + failed} ({passed} passed), {requests} requests "
            f"({requests / t:.1f}/s), {errors} errors; pools play {pools.get('play', 0)} unverified "
            f"{pools.get('unverified', 0)} learning {pools.get('learning', 0)}; generation: {gen}")


def library_counts(db: Metadata, acknowledged: list[Acknowledged]) -> dict[str, int]:
    ours = {a.challenge_id for a in acknowledged}
    votes = [v for v in db.all_votes() if v.get("challenge_id") in ours]
    pools = db.pool_counts()
    return {"votes": len(votes), "counted": sum(1 for v in votes if v["counted"]),
            "learning": pools.get("learning", 0), "unverified": pools.get("unverified", 0),
            "retired": pools.get("retired", 0), "play": pools.get("play", 0)}


def store_of(settings: Settings) -> AudioStore:
    from .services import build_store

    return build_store(settings)


def stop_server(proc: subprocess.Popen, timeout_s: float = 30) -> None:
    """SIGTERM (uvicorn finishes the requests in flight), then SIGKILL if it does not end."""
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


# -- the server -----------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def own_server(play: int, unverified: int, data_dir: Path | None = None,
               say: Callable[[str], None] = print) -> Iterator[Target]:
    """A fresh data dir stocked with synthetic clips and `insideout serve` on it (SERVER_ENV); stopped on exit."""
    from .commands.bench_api import start_server, stock

    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="insideout-load-"))
    say(f"stocking {play} play and {unverified} unverified 2 s clips in {data_dir} ...")
    stock(data_dir, play, unverified)
    password = secrets.token_urlsafe(18)
    env = {**SERVER_ENV, "INSIDEOUT_ADMIN_PASSWORD": password}
    proc, url = start_server(data_dir, env)
    settings = load_settings({**os.environ, **env, "INSIDEOUT_DATA_DIR": str(data_dir)})
    try:
        yield Target(url, settings, password, proc)
    finally:
        if proc.poll() is None:
            stop_server(proc)


def running_server(url: str, data_dir: Path, admin_password: str | None) -> Target:
    """A server someone else runs; its data dir (and INSIDEOUT_* storage settings) must be this process's too."""
    settings = load_settings({**os.environ, "INSIDEOUT_DATA_DIR": str(data_dir)})
    return Target(url.rstrip("/"), settings, admin_password)


# -- the printout -----------------------------------------------------------------------------------------------


def report_lines(report: LoadReport) -> list[str]:
    from .commands.bench_api import pct  # a percentile of seconds, in ms: the API benchmark's

    c = report.config
    lines = [
        "",
        f"{c.visitors} visitors for {report.elapsed_s:.0f} s (right rate {c.right_rate}, agree rate {c.agree_rate})",
        f"  throughput  {report.cycles / report.elapsed_s:8.2f} visits/s ({report.passed} passed, {report.failed} "
        f"failed)  {report.requests / report.elapsed_s:8.1f} requests/s ({report.requests} requests)",
        "  latency (ms)        n      p50      p95      p99      max",
    ]
    for name in ENDPOINTS:
        v = report.timings.get(name, [])
        worst = max(v) * 1000 if v else float("nan")
        lines.append(f"  {name:<11} {len(v):>9} {pct(v, 50):8.1f} {pct(v, 95):8.1f} "
                     f"{pct(v, 99):8.1f} {worst:8.1f}")
    lines.append(f"  errors: {sum(report.errors.values())} ({report.server_errors} server errors: 5xx or connection)")
    for kind, n in sorted(report.errors.items()):
        lines.append(f"    {n:>6}  {kind}")
    gen = report.generation
    if gen.mode == "off":
        lines.append("  generation: off")
    else:
        where = "in the server process (admin generate, a job)" if gen.mode == "server" else \
            "as a second process (insideout generate on the same data dir)"
        lines.append(f"  generation {where}: {len(gen.jobs)} jobs of {c.generate_count} clips, {gen.made} clips "
                     f"made, {len(gen.failed_jobs)} jobs not done")
        for job in gen.jobs:
            lines.append(f"    {job.get('id', job.get('pid'))}: {job['state']}, {job['made']} made, "
                         f"{job['failed']} failed, {job['seconds']} s" + (f"; {job['error']}" if job["error"] else ""))
        if gen.error:
            lines.append(f"    ERROR {gen.error}")
    n = report.counts
    lines.append(f"  library: {n['votes']} votes stored from {len(report.acknowledged)} acknowledged answers "
                 f"({n['counted']} counted); pools now play {n['play']}, unverified {n['unverified']}, learning "
                 f"{n['learning']}, retired {n['retired']}")
    how = "after the server stopped, settled" if report.checked_settled else "live (server running), unsettled"
    lines.append(f"  invariants ({how}): {len(report.violations)} violations; lost answers or votes: "
                 f"{len(report.lost)}")
    for v in [*report.violations, *report.lost][:50]:
        lines.append(f"    {v.kind}: {v.detail}")
    lines.append("PASS" if ok(report) else "FAIL")
    return lines
