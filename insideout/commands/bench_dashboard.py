"""Benchmark the admin dashboard: how long the Admin tab takes to fill with a research-sized database.

Seeds a fresh SQLite data dir: play clips (0.1 s each, labels cycling), unverified clips with an intended
emotion, VOTES counted votes by VOTERS voters (most name the intended emotion, a few voters guess) spread over
30 days, and CHALLENGES answered challenges. Then times, on this process's own services, the handler the Admin
tab runs when it opens (the dashboard: summary, tallies, agreement with Dawid-Skene, the charts), as the server
runs it:

- first: the first look after start (after the dashboard's warm-up, which the app runs in the background when it
  starts: the statistics libraries imported, Dawid-Skene estimated over the votes there are);
- again: a refresh with nothing new (Dawid-Skene's estimate is reused);
- after a vote: a refresh after one new vote (the last estimate is shown; a new one is made in the background,
  after the dashboard's ds_delay_s);

and the handlers of the other sections, each when it is opened (models, bot lab, sites).

The browser's share (drawing the charts) is measured by tests/test_browser.py, which prints its time.

    insideout bench-dashboard [--votes 10000] [--clips 2000] [--voters 400] [--challenges 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from insideout.cli import Context

PASSWORD = "bench-dashboard-admin"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--votes", type=int, default=10_000, help="counted votes to seed (default 10000)")
    parser.add_argument("--clips", type=int, default=2000, help="unverified clips they fall on (default 2000)")
    parser.add_argument("--voters", type=int, default=400, help="distinct voters (default 400)")
    parser.add_argument("--challenges", type=int, default=300, help="answered challenges (default 300)")
    parser.add_argument("--repeat", type=int, default=5, help="refreshes timed for 'again' and 'after a vote'")
    parser.add_argument("--seed", type=int, default=1)


def seed(services, votes: int, clips: int, voters: int, challenges: int, seed: int) -> None:
    """The database: clips, votes and challenges as described in the module's docstring."""
    import numpy as np

    from insideout.db import Vote
    from insideout.emotions import EMOTION_IDS
    from insideout.library import ClipInfo
    from insideout.wav import SAMPLE_RATE

    rng = np.random.default_rng(seed)
    silence = (0.01 * rng.standard_normal(SAMPLE_RATE // 10)).astype(np.float32)
    for i in range(32):
        services.library.add(silence, SAMPLE_RATE, "play", ClipInfo(source="test", label=EMOTION_IDS[i % 8],
                                                                     text=f"play {i}"))
    intended = [EMOTION_IDS[i % 8] for i in range(clips)]
    ids = [services.library.add(silence, SAMPLE_RATE, "unverified",
                                ClipInfo(source="test", intended_emotion=e, text=f"unverified {i}"))
           for i, e in enumerate(intended)]
    skill = rng.uniform(0.3, 0.9, voters)  # each voter's chance of naming the intended emotion
    now = time.time()
    seen: set[tuple[int, int]] = set()
    batch: list[tuple[float, Vote]] = []
    while len(seen) < min(votes, clips * voters):
        c, v = int(rng.integers(clips)), int(rng.integers(voters))
        if (c, v) in seen:
            continue
        seen.add((c, v))
        emotion = intended[c] if rng.random() < skill[v] else EMOTION_IDS[int(rng.integers(8))]
        batch.append((now - float(rng.uniform(0, 30 * 86400)), Vote(ids[c], f"voter{v}", emotion, True, "labeling")))
    for when, vote in sorted(batch, key=lambda b: b[0]):
        services.db.insert_votes([vote], when)
    for k in range(challenges):
        client = f"198.51.{k // 250}.{k % 250 + 1}"
        when = now - float(rng.uniform(0, 30 * 86400))
        view = services.captcha.create(client, now=when)
        for r in range(3):
            challenge = services.db.get_challenge(view.challenge_id)
            right = rng.random() < 0.8
            given = {}
            for s in challenge.slots:
                label = services.db.get_clip(s.clip_id)["label"]
                given[s.slot] = (label if right else next(e for e in EMOTION_IDS if e != label)) if s.is_control \
                    else EMOTION_IDS[int(rng.integers(8))]
            if services.captcha.answer(view.challenge_id, given, client, now=when + r).status != "retry":
                break


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.accounts import Session
    from insideout.db import Vote
    from insideout.services import build_services
    from insideout.settings import Settings
    from insideout.web.ui import build_ui
    from insideout.web.ui.common import TabState

    folder = Path(tempfile.mkdtemp(prefix="insideout-bench-dashboard-"))
    settings = replace(Settings(data_dir=folder / "data", secret_key="e" * 32), starter_library=False,
                       admin_password=PASSWORD, serve_budget=0, play_pool_target=0, votes_per_network=0,
                       suspect_vote_share=1.0, fail_cooldown_s=0, rate_limit_per_min=1_000_000)
    services = build_services(settings, announce=lambda _: None)
    started = time.perf_counter()
    seed(services, args.votes, args.clips, args.voters, args.challenges, args.seed)
    total, counted, _ = services.db.vote_totals(0)
    print(f"seeded {total} votes ({counted} counted) on {args.clips} clips by {args.voters} voters, "
          f"{args.challenges} challenges, in {time.perf_counter() - started:.1f} s")
    services.dashboard.warm_up()  # what the app's start does on a background thread
    ui = build_ui(services)
    # The admin's session as the login would make it (the login itself is the browser test's to time).
    admin = TabState(user=services.accounts.require_admin(Session("admin", "admin")))

    def timed(handler) -> float:
        t0 = time.perf_counter()
        handler(admin)
        return time.perf_counter() - t0

    def tab(state: TabState) -> None:
        ui.admin.refresh(state, "all", "all", "clip", "counts")

    first = timed(tab)
    again = [timed(tab) for _ in range(args.repeat)]
    after = []
    clip = services.db.clips("unverified")[0]["id"]
    for i in range(args.repeat):
        services.db.insert_votes([Vote(clip, f"late{i}", "sad", True, "labeling")], time.time())
        after.append(timed(tab))
    print(f"admin tab (the dashboard), server side, {total + args.repeat} votes: first {first:.2f} s, "
          f"again median {statistics.median(again):.2f} s, after a new vote median {statistics.median(after):.2f} s")
    sections = {"models": ui.admin.training_panel, "bot lab": ui.admin.bot_lab_panel, "sites": ui.admin.sites_panel}
    print("sections, opened: " + ", ".join(f"{name} {timed(handler):.2f} s" for name, handler in sections.items()))
    return 0
