"""The bot lab's evaluation: attackers against pass policies and deployment configurations, with intervals.

It owns the local deployment an evaluation plays against (a temp data dir stocked with the starter
library, the real app served by uvicorn on loopback, rate limits lifted, 127.0.0.1 trusted as the proxy so
one process can play as many clients), the named configurations (sets of settings) it deploys, the loop
that plays every attacker under every (configuration, policy) cell, each attacker on a fresh deployment of
its own, and the report: pass rates with Wilson 95 % intervals beside the analytic chance rate,
control-clip accuracy and confusion, learning over blocks of challenges, the attacker's CPU per pass, and
how many unverified clips reached the learning pool with a label the attacker voted.

Attackers only ever see the HTTP API (insideout.botlab.arena). The ground truth (which slot was the
control, the clips' labels, the learning pool) is read here, by the evaluator, from the server's metadata
after each challenge.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from ..captcha import Policy
from ..corpus.starter import MARKER, StarterConfig
from ..emotions import EMOTION_IDS
from ..settings import Settings
from .arena import Arena, Attacker, Round

if TYPE_CHECKING:
    from ..services import Services

DEFAULT_POLICIES: tuple[tuple[int, int], ...] = ((1, 3), (2, 3), (3, 3))
DEFAULT_LIBRARY = StarterConfig()  # the app's own starter library: 192 play and 48 unverified clips
BLOCK = 100  # challenges per block of the learning curve
LOOPBACK_PROXY = ipaddress.ip_network("127.0.0.1/32")
FIXED_CLIENTS = ipaddress.ip_network("198.18.0.0/15")  # benchmark range; only ever a header value
SYBIL_CLIENTS = ipaddress.ip_network("10.0.0.0/9")  # one per Sybil challenge; only ever a header value
# A spread Sybil's addresses: one per /24 of its own (32768 of them), apart from SYBIL_CLIENTS' networks
SPREAD_CLIENTS = ipaddress.ip_network("10.128.0.0/9")


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion; (0, 1) when nothing was observed. Unlike the
    normal approximation it stays inside [0, 1] and is honest at 0 of n, where a captcha's rates live."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # The interval holds p; rounding can put an end a hair past it (0.9999999999999999 at n of n).
    return max(0.0, min(p, center - half)), min(1.0, max(p, center + half))


# -- the deployment ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    """A named deployment: changes to the settings (dataclasses.replace on Settings), and optionally how many
    unverified clips to keep (the rest are retired before play), so a Sybil's effect shows in few games."""

    name: str
    changes: Mapping[str, Any] = field(default_factory=dict)
    unverified_limit: int | None = None
    fresh_only: bool = False  # retire the starter library's play clips: every control a fresh clip (steady state)


TODAY = Configuration("today")  # the defaults of the settings table
# The defences against a recipe-trained listener off: fresh clips rendered by the public recipe, served as
# before them (a +-1 dB gain, edge silence, dither).
RECIPE_DEFENCES_OFF = {"preset_variation": 0.0, "clip_pitch_st": 0.0, "clip_tempo": 0.0, "serve_gain_db": 1.0,
                       "serve_noise_snr_db": 0.0, "serve_crop_s": 0.0, "machine_hard": 0.0, "adversarial_snr_db": 0.0}
# The shipped defaults but the defences a setting turns off: what issue 12 measured (decoys are no setting).
UNDEFENDED = Configuration("undefended", {"serve_budget": 0, "play_pool_target": 0, "votes_per_network": 0,
                                          "suspect_vote_share": 1.0, **RECIPE_DEFENCES_OFF})
FRESH = {"serve_budget": 1, "play_pool_target": 192}  # every clip served once, the restock rendering new ones


def _one_recipe_defence(name: str, **on: Any) -> Configuration:
    """Fresh clips only (the starter library spent), with one defence against recipe-trained listeners on."""
    return Configuration(name, {**FRESH, **RECIPE_DEFENCES_OFF, **on}, fresh_only=True)
CONFIGURATIONS: dict[str, Configuration] = {c.name: c for c in (
    TODAY,
    UNDEFENDED,
    # consensus twice as hard to reach: how much a Sybil's labels need, and whether it still gets them there
    Configuration("strict-consensus", {"consensus_min_votes": 20, "consensus_min_share": 0.8,
                                       "ambiguous_after_votes": 40}),
    # few unverified clips: a visitor soon has voted on all, and later rounds show a decoy beside the control
    Configuration("few-unverified", unverified_limit=8),
    # the defences, one at a time (the shipped defaults combine those the measurements favour):
    # every play clip served once, the pool kept at the starter library's size by the restocker
    Configuration("fresh-clips", {"serve_budget": 1, "play_pool_target": 192}),
    # every round played, only the end told
    Configuration("deferred-feedback", {"feedback": "deferred"}),
    # a site past its first days under the shipped defaults: every control a fresh clip of its own recipe
    Configuration("steady-state", fresh_only=True),
    # the defences against a listener trained on the public recipe, one at a time, on fresh clips only:
    _one_recipe_defence("public-recipe"),  # none of them: the baseline of the four below
    _one_recipe_defence("own-recipe", preset_variation=0.1, clip_pitch_st=1.0, clip_tempo=0.05),
    _one_recipe_defence("serving-noise", serve_noise_snr_db=20.0),
    _one_recipe_defence("machine-hard", machine_hard=1.0),
    _one_recipe_defence("adversarial", adversarial_snr_db=20.0),
)}


def configuration_from_settings(name: str, assignments: Sequence[str], fresh_only: bool = False) -> Configuration:
    """A configuration from INSIDEOUT_NAME=VALUE assignments, parsed and checked as the app parses its
    environment (so every setting the table knows can be evaluated, defences included)."""
    from ..settings import setting_changes

    pairs: dict[str, str] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        if not sep:
            raise ValueError(f"{text!r} is not NAME=VALUE (for example INSIDEOUT_CONSENSUS_MIN_VOTES=20)")
        pairs[key.strip()] = value
    changes = setting_changes(pairs)
    owned = sorted(set(changes) & EVALUATION_OWNS)
    if owned:
        raise ValueError(f"the evaluation sets {', '.join(owned)} itself (the policy with --policies)")
    return Configuration(name, changes, fresh_only=fresh_only)


@dataclass(frozen=True)
class Deployment:
    url: str
    services: Services

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def _library_name(library: StarterConfig) -> str:
    voices = "-".join(library.voices) if library.voices else "all"
    return f"starter-{library.clips_per_emotion}-{library.unverified_share:g}-{library.seed}-{voices}"


def _build_library(data_dir: Path, library: StarterConfig) -> None:
    from ..corpus import starter
    from ..library import Library
    from ..services import build_metadata
    from ..storage import LocalStore

    settings = Settings(data_dir=data_dir)
    db = build_metadata(settings)
    try:
        report = starter.build(Library(db, LocalStore(settings.audio_dir)), library, progress=False)
        if report.failed:
            raise RuntimeError(f"the starter library failed for {len(report.failed)} clips, e.g. {report.failed[0]}")
        starter.mark_built(data_dir, library, report)
    finally:
        db.close()


def stock(data_dir: Path, library: StarterConfig, cache_dir: Path | None = None) -> None:
    """Put the starter library into data_dir: built there, or built once into cache_dir and copied (a full
    build takes about 45 s on two cores; a copy, a moment)."""
    if cache_dir is None:
        _build_library(data_dir, library)
        return
    cached = Path(cache_dir) / _library_name(library)
    if not (cached / MARKER).exists():
        partial = cached.with_name(f"{cached.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        _build_library(partial, library)
        shutil.rmtree(cached, ignore_errors=True)
        partial.rename(cached)  # only a finished build is ever found under the cache's name
    shutil.copytree(cached, data_dir)


# What deployment_settings decides whatever the configuration: where it lives, how it counts clients, and
# that nothing but the answers limits play. The policy is the evaluation's other axis.
EVALUATION_OWNS = frozenset({"data_dir", "secret_key", "starter_library", "rate_limit_per_min", "fail_cooldown_s",
                             "request_limit_per_min", "trusted_proxies", "retrain_threshold", "rounds_to_pass",
                             "max_rounds", "host", "port"})


def deployment_settings(data_dir: Path, configuration: Configuration, policy: tuple[int, int]) -> Settings:
    base = Settings(
        data_dir=data_dir,
        secret_key=secrets.token_urlsafe(32),
        starter_library=False,
        rate_limit_per_min=10_000_000,  # the evaluation measures answers, not the rate limiter
        request_limit_per_min=10_000_000,
        fail_cooldown_s=0,  # nor the bot verdict's cooldown: a throughput limit, like the rate limits
        trusted_proxies=(LOOPBACK_PROXY,),  # X-Forwarded-For names the client: one process, many clients
        retrain_threshold=10_000_000,  # no fine-tune starts in the middle of an evaluation
    )
    rounds_to_pass, max_rounds = policy
    return replace(base, **{**configuration.changes, "rounds_to_pass": rounds_to_pass, "max_rounds": max_rounds})


def _retire_unverified_beyond(services: Services, keep: int) -> None:
    for row in services.db.clips("unverified", include_retired=False)[keep:]:
        services.db.retire(row["id"], "unverified", "botlab: beyond the configuration's unverified limit",
                           time.time())


def _retire_play_clips(services: Services) -> None:
    """The starter library's play clips out: a deployment past its first days, whose controls are all fresh
    clips of its own recipe (the restocker renders them as the evaluation starts)."""
    for row in services.db.clips("play", include_retired=False):
        services.db.retire(row["id"], "play", "botlab: steady state, fresh clips only", time.time())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def deployment(configuration: Configuration = TODAY, policy: tuple[int, int] = (1, 3),
               library: StarterConfig = DEFAULT_LIBRARY, cache_dir: Path | None = None) -> Iterator[Deployment]:
    """The real app on a free loopback port, in a thread, over a fresh stocked data dir that is removed
    afterwards."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # offline: no phoning home from Gradio
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import uvicorn

    from ..services import build_services
    from ..web import create_app

    with tempfile.TemporaryDirectory(prefix="insideout-botlab-") as tmp:
        data_dir = Path(tmp) / "data"
        stock(data_dir, library, cache_dir)
        services = build_services(deployment_settings(data_dir, configuration, policy), announce=lambda _: None)
        if configuration.unverified_limit is not None:
            _retire_unverified_beyond(services, configuration.unverified_limit)
        if configuration.fresh_only:
            _retire_play_clips(services)
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port,
                                               log_level="warning", proxy_headers=False))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        services.restock.start()  # fresh clips, when the configuration keeps a play pool target
        deadline = time.time() + 60
        while not server.started:
            if time.time() > deadline or not thread.is_alive():
                raise RuntimeError("the evaluation's server did not start")
            time.sleep(0.05)
        try:
            yield Deployment(f"http://127.0.0.1:{port}", services)
        finally:
            services.restock.stop()
            server.should_exit = True
            thread.join(10)
            services.db.close()


# -- playing a cell ------------------------------------------------------------------------------------


class _Timed:
    """The attacker, with the CPU its answer and learn calls take. process_time counts the whole process,
    server thread included, but the server is idle while the attacker thinks (the arena waits on it)."""

    def __init__(self, attacker: Attacker):
        self.attacker = attacker
        self.name = attacker.name
        self.cpu_s = 0.0

    def answer(self, round: Round) -> dict[str, str]:
        t0 = time.process_time()
        try:
            return self.attacker.answer(round)
        finally:
            self.cpu_s += time.process_time() - t0

    def learn(self, round: Round, answers: Mapping[str, str], status: str) -> None:
        t0 = time.process_time()
        try:
            self.attacker.learn(round, answers, status)
        finally:
            self.cpu_s += time.process_time() - t0


@dataclass(frozen=True)
class Cell:
    """One attacker under one configuration and policy."""

    attacker: str
    configuration: str
    policy: str  # "k/n": pass k of at most n rounds
    n: int
    passes: int
    rate: float
    interval: tuple[float, float]  # Wilson 95 %
    chance: float  # a random guesser's pass probability under the policy
    # The rest but the CPU and wall times need the server's metadata (a deployment of the evaluation's own):
    # None when it played a server at a URL.
    control_rounds: int | None
    control_correct: int | None
    control_accuracy: float | None
    confusion: Mapping[str, Mapping[str, int]]  # true label -> answered emotion -> control rounds
    pass_rate_by_block: tuple[float, ...]  # per BLOCK challenges, in order played (the last may be short)
    cpu_s: float  # the attacker's own CPU, answer and learn (refits included)
    cpu_s_per_pass: float | None
    clients: int  # distinct client identities it played as
    counted_votes: int | None  # its votes on unverified clips that the server counted (control right, under the cap)
    learned_with_its_label: int | None  # clips in the learning pool with a label it cast a counted vote for
    learned_against_intended: int | None  # of those, labelled other than the clip's intended emotion
    wall_s: float
    retrain_cpu_s: float | None = None  # of cpu_s, the CPU an attacker that refits spent refitting
    retrains: int | None = None  # how many times it refitted
    pow_s: float | None = None  # CPU seconds solving proof of work, all its challenges together; None: none asked
    no_clips_waits: int | None = None  # tries refused for want of fresh play clips (the restock behind demand)
    restocked: int | None = None  # fresh clips the deployment's restocker rendered while it played

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Cell:
        return cls(**{**data, "interval": tuple(data["interval"]),
                      "pass_rate_by_block": tuple(data["pass_rate_by_block"])})


@dataclass(frozen=True)
class Report:
    cells: tuple[Cell, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)  # seed, N, the library, when, how long

    def as_dict(self) -> dict[str, Any]:
        return {"meta": dict(self.meta), "cells": [asdict(c) for c in self.cells]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        return cls(tuple(Cell.from_dict(c) for c in data["cells"]), dict(data["meta"]))

    def table(self) -> str:
        header = ("attacker", "configuration", "policy", "passed/N", "rate", "95 % interval", "chance",
                  "control acc.", "learned")
        rows = [header] + [
            (c.attacker, c.configuration, c.policy, f"{c.passes}/{c.n}", f"{c.rate:.3f}",
             f"[{c.interval[0]:.3f}, {c.interval[1]:.3f}]", f"{c.chance:.3f}",
             "n/a" if c.control_accuracy is None else f"{c.control_accuracy:.3f}",
             "n/a" if c.learned_with_its_label is None else str(c.learned_with_its_label))
            for c in self.cells
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows)


class Identities:
    """Client addresses for one deployment: one fixed per attacker, or a fresh one per challenge. Fresh ones are
    sequential (neighbours: 254 to a /24, as a bot on one host or one rented block has), or, spread, each in a
    /24 of its own (as a botnet of many homes has, so a cap per network does not group them). Every address is
    private (RFC 1918) or a benchmark range (RFC 2544): a header value only, never contacted."""

    def __init__(self):
        self.fresh_used = 0
        self.spread_used = 0

    @staticmethod
    def fixed(index: int) -> str:
        return str(FIXED_CLIENTS[index + 1])

    def fresh(self, spread: bool = False) -> str:
        if spread:
            self.spread_used += 1
            networks = SPREAD_CLIENTS.num_addresses >> 8
            if self.spread_used > networks:
                raise ValueError(f"a spread Sybil has {networks} networks of its own; it asked for more")
            return str(SPREAD_CLIENTS[((self.spread_used - 1) << 8) + 1])  # x.y.z.1 of its own /24
        self.fresh_used += 1
        return str(SYBIL_CLIENTS[self.fresh_used])


def play_cell(arena: Arena, services: Services | None, attacker: Attacker, n: int, index: int,
              identities: Identities, configuration: str, policy: tuple[int, int]) -> Cell:
    """Play n challenges and read each one's truth from the server's metadata (services: the deployment's;
    None for a server at a URL, whose truth this side cannot see: pass rates only)."""
    timed = _Timed(attacker)
    waits_before = arena.no_clips_waits
    restocked_before = services.restock.rendered if services is not None else 0
    per_challenge = bool(getattr(attacker, "identity_per_challenge", False))
    spread = getattr(attacker, "identity_spread", None) == "networks"  # each fresh address in a /24 of its own
    fixed = identities.fixed(index)
    labels: dict[int, str | None] = {}

    def label(clip_id: int) -> str | None:
        if clip_id not in labels:
            labels[clip_id] = services.db.get_clip(clip_id)["label"]
        return labels[clip_id]

    started = time.perf_counter()
    outcomes: list[bool] = []
    clients: set[str] = set()
    confusion: dict[str, Counter] = defaultdict(Counter)
    correct = rounds = 0
    votes: dict[int, set[str]] = defaultdict(set)  # clip -> labels it cast counted votes for
    voted_on: set[int] = set()
    challenge_ids: set[str] = set()
    n_votes = 0
    pow_total: float | None = None
    for _ in range(n):
        client = identities.fresh(spread) if per_challenge else fixed
        clients.add(client)
        played = arena.play(timed, client)
        outcomes.append(played.passed)
        if played.pow_s is not None:
            pow_total = (pow_total or 0.0) + played.pow_s
        if services is None:
            continue
        by_round: dict[int, list] = defaultdict(list)
        for s in services.db.challenge_slots(played.challenge_id):
            by_round[s.round_no].append(s)
        for slots in by_round.values():
            control = next(s for s in slots if s.is_control)
            truth = label(control.clip_id)
            right = control.answer == truth
            rounds += 1
            correct += right
            confusion[truth][control.answer] += 1
            for s in slots:
                if not s.is_control and not s.is_decoy and right:
                    voted_on.add(s.clip_id)
        challenge_ids.add(played.challenge_id)
    if services is not None and voted_on:
        # the server's own count: a vote past the network cap, or a repeat voter's, is kept but not counted
        for row in services.db.counted_votes_on(voted_on):
            if row["challenge_id"] in challenge_ids:
                votes[row["clip_id"]].add(row["emotion"])
                n_votes += 1
    learned = against = 0
    for clip_id, cast in votes.items() if services is not None else ():
        row = services.db.get_clip(clip_id)
        if row["pool"] == "learning" and row["label"] in cast:
            learned += 1
            against += row["intended_emotion"] is not None and row["label"] != row["intended_emotion"]
    passes = sum(outcomes)
    blocks = [outcomes[i:i + BLOCK] for i in range(0, len(outcomes), BLOCK)]
    return Cell(
        attacker=attacker.name, configuration=configuration, policy=f"{policy[0]}/{policy[1]}", n=n, passes=passes,
        rate=passes / n if n else 0.0, interval=wilson(passes, n),
        chance=Policy(*policy).chance_pass_probability(len(EMOTION_IDS)),
        control_rounds=rounds if services else None, control_correct=correct if services else None,
        control_accuracy=(correct / rounds if rounds else 0.0) if services else None,
        confusion={t: dict(sorted(a.items())) for t, a in sorted(confusion.items(), key=lambda kv: str(kv[0]))},
        pass_rate_by_block=tuple(sum(b) / len(b) for b in blocks),
        cpu_s=round(timed.cpu_s, 4), cpu_s_per_pass=round(timed.cpu_s / passes, 6) if passes else None,
        clients=len(clients), counted_votes=n_votes if services else None,
        learned_with_its_label=learned if services else None, learned_against_intended=against if services else None,
        wall_s=round(time.perf_counter() - started, 2),
        retrain_cpu_s=_rounded(getattr(attacker, "retrain_cpu_s", None)),
        retrains=getattr(attacker, "retrains", None),
        pow_s=_rounded(pow_total),
        no_clips_waits=arena.no_clips_waits - waits_before,
        restocked=services.restock.rendered - restocked_before if services is not None else None,
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def evaluate(attackers: Mapping[str, Callable[[int], Attacker]],
             policies: Sequence[tuple[int, int]] = DEFAULT_POLICIES,
             configurations: Sequence[Configuration] = (TODAY,), challenges_per_cell: int = 300, seed: int = 0,
             library: StarterConfig = DEFAULT_LIBRARY, cache_dir: Path | None = None,
             progress: Callable[[Cell], None] | None = None, url: str | None = None) -> Report:
    """Every attacker (a fresh instance per cell, from its factory and the seed) under every configuration
    and policy, each on a fresh deployment of its own: no attacker meets another's votes in the tallies.

    url: play a running server instead (configuration "remote"); policies then names the one it runs (for
    the chance rate), and only pass rates are measured: the truth of its clips is not this side's to see."""
    started = time.time()
    cells: list[Cell] = []

    def play_one(arena: Arena, services: Services | None, configuration: str, policy: tuple[int, int],
                 index: int, name: str, factory: Callable[[int], Attacker], identities: Identities) -> None:
        attacker = factory(seed)
        if services is not None and hasattr(attacker, "know_settings"):
            attacker.know_settings(services.settings)  # what a site's settings say is public; its secrets are not
        if hasattr(attacker, "prepare"):
            attacker.prepare()  # its training before the first challenge, which would expire meanwhile
        cell = replace(play_cell(arena, services, attacker, challenges_per_cell, index, identities,
                                 configuration, tuple(policy)), attacker=name)
        cells.append(cell)
        if progress:
            progress(cell)

    meta: dict[str, Any] = {"seed": seed, "challenges_per_cell": challenges_per_cell, "block": BLOCK,
                            "policies": [f"{k}/{n}" for k, n in policies]}
    if url is not None:
        if len(policies) != 1:
            raise ValueError("a server at a URL runs one policy: name it, and only it")
        with Arena.at(url) as arena:
            # One server: attackers meet each other's votes; one set of identities, so no two attackers play
            # as the same client there.
            identities = Identities()
            for index, (name, factory) in enumerate(attackers.items()):
                play_one(arena, None, "remote", policies[0], index, name, factory, identities)
        meta["url"] = url
    else:
        with tempfile.TemporaryDirectory(prefix="insideout-botlab-cache-") as own_cache:
            cache = Path(cache_dir) if cache_dir is not None else Path(own_cache)  # built once per evaluation
            cache.mkdir(parents=True, exist_ok=True)
            for configuration in configurations:
                for policy in policies:
                    for index, (name, factory) in enumerate(attackers.items()):
                        with deployment(configuration, policy, library, cache) as live, live.client() as http:
                            # fresh identities per deployment: the same addresses play every cell, so cells compare
                            play_one(Arena(http), live.services, configuration.name, policy, index, name, factory,
                                     Identities())
        meta["configurations"] = {c.name: {"changes": dict(c.changes), "unverified_limit": c.unverified_limit,
                                           "fresh_only": c.fresh_only}
                                  for c in configurations}
        meta["library"] = asdict(library)
    meta |= {"started_at": round(started, 1), "wall_s": round(time.time() - started, 1), "cpus": os.cpu_count()}
    return Report(tuple(cells), json.loads(json.dumps(meta)))  # JSON's own types, so the report round-trips


def plot(report: Report, path: str | Path) -> Path:
    """Pass rates with their 95 % intervals, grouped by policy, beside each policy's chance rate."""
    from matplotlib.figure import Figure

    policies = list(dict.fromkeys(c.policy for c in report.cells))
    series = list(dict.fromkeys((c.attacker, c.configuration) for c in report.cells))
    width = 0.8 / max(1, len(series))
    fig = Figure(figsize=(max(6.0, 1.6 * len(policies) * max(1, len(series)) ** 0.5), 4.2))
    ax = fig.add_subplot()
    for s, (attacker, configuration) in enumerate(series):
        xs, rates, lows, highs = [], [], [], []
        for p, policy in enumerate(policies):
            cell = next((c for c in report.cells if (c.attacker, c.configuration, c.policy)
                         == (attacker, configuration, policy)), None)
            if cell is None:
                continue
            xs.append(p - 0.4 + width * (s + 0.5))
            rates.append(cell.rate)
            # Reports stored before wilson() held p at its ends may sit a rounding step inside it.
            lows.append(max(0.0, cell.rate - cell.interval[0]))
            highs.append(max(0.0, cell.interval[1] - cell.rate))
        label = attacker if len({c for _, c in series}) == 1 else f"{attacker} ({configuration})"
        ax.bar(xs, rates, width * 0.9, yerr=[lows, highs], capsize=3, label=label)
    for p, policy in enumerate(policies):
        chance = next(c.chance for c in report.cells if c.policy == policy)
        ax.hlines(chance, p - 0.45, p + 0.45, colors="black", linestyles="dashed",
                  label="chance" if p == 0 else None)
    ax.set_xticks(range(len(policies)), [f"pass {p.replace('/', ' of ')}" for p in policies])
    ax.set_ylabel("pass rate (95 % Wilson interval)")
    ax.set_ylim(0, 1)
    ax.set_title(f"Bot lab: pass rates, {report.meta.get('challenges_per_cell', '?')} challenges per cell")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
