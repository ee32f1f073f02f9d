"""The bot lab's evaluation (insideout/botlab/evaluation.py) and its simplest attackers, played through the
real HTTP API of a real server on loopback, over a small real starter library (3 clips per emotion: 16 play,
8 unverified) built once for the module. Server-side picks are not seeded, so statistical checks use wide
(99.9 %) intervals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from insideout.botlab.arena import Arena
from insideout.botlab.attackers import ATTACKERS, SYBIL_LABEL
from insideout.botlab.attackers.random_guess import RandomGuesser
from insideout.botlab.evaluation import (
    CONFIGURATIONS,
    TODAY,
    UNDEFENDED,
    Cell,
    Configuration,
    Identities,
    Report,
    configuration_from_settings,
    deployment,
    evaluate,
    play_cell,
    wilson,
)
from insideout.captcha import Policy
from insideout.corpus.starter import StarterConfig
from insideout.emotions import EMOTION_IDS

SMALL = StarterConfig(clips_per_emotion=3, unverified_share=0.34)  # 2 play + 1 unverified per emotion
WIDE = 3.29  # z of a 99.9 % interval: a check that fails by chance once in a thousand runs


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """The small starter library, built once and copied into every deployment of this module."""
    return tmp_path_factory.mktemp("library-cache")


@pytest.fixture(scope="module")
def live(cache):
    with deployment(UNDEFENDED, (1, 3), SMALL, cache) as d:  # fresh clips off: 16 play clips serve every test
        yield d


def test_wilson_matches_known_intervals():
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("n", [1, 7, 100, 300, 1000])
def test_the_interval_holds_the_observed_rate_at_its_ends(n):
    for passes in (0, n):
        low, high = wilson(passes, n)
        assert low <= passes / n <= high


def cell_dict(attacker: str, passes: int, n: int) -> dict:
    return {"attacker": attacker, "configuration": "today", "policy": "1/3", "n": n, "passes": passes,
            "rate": passes / n, "interval": list(wilson(passes, n)), "chance": 0.330078125, "control_rounds": n,
            "control_correct": passes, "control_accuracy": passes / n, "confusion": {},
            "pass_rate_by_block": [passes / n], "cpu_s": 0.0, "cpu_s_per_pass": None, "clients": 1,
            "counted_votes": 0, "learned_with_its_label": 0, "learned_against_intended": 0, "wall_s": 1.0}


def test_a_report_where_an_attacker_passes_everything_plots(tmp_path):
    from insideout.botlab.evaluation import plot

    report = Report.from_dict({"meta": {}, "cells": [cell_dict("adaptive", 300, 300), cell_dict("random", 0, 300)]})
    assert plot(report, tmp_path / "all.png").stat().st_size > 1000


def test_the_random_guesser_passes_at_the_policys_chance_rate(cache):
    """100 challenges under pass 1 of 3: the analytic chance rate (33 %) lies in the observed rate's
    interval, and the control clips are answered right about one time in eight."""
    report = evaluate({"random": ATTACKERS["random"]}, policies=((1, 3),), configurations=(UNDEFENDED,),
                      challenges_per_cell=100, seed=1, library=SMALL, cache_dir=cache)
    (cell,) = report.cells
    chance = Policy(1, 3).chance_pass_probability()
    assert cell.chance == pytest.approx(chance)
    low, high = wilson(cell.passes, cell.n, WIDE)
    assert low <= chance <= high, cell
    low, high = wilson(cell.control_correct, cell.control_rounds, WIDE)
    assert low <= 1 / 8 <= high, cell
    assert cell.n == 100 and cell.clients == 1 and cell.control_rounds >= 100
    assert sum(sum(row.values()) for row in cell.confusion.values()) == cell.control_rounds
    assert set(cell.confusion) <= set(EMOTION_IDS)
    assert cell.pass_rate_by_block == (cell.rate,)


def test_the_sybil_voter_moves_an_unverified_clip_to_learning_with_its_label(cache):
    """Today's rules with a small crowd threshold (consensus at 3 counted votes) and one unverified clip, so
    it takes tens of challenges: each challenge from a new client address, the label planted on every slot;
    its vote counts when the control's own label is the target (1 round in 8), and then every counted vote
    is the target's. Each address meets the clip once, so about 24 challenges do it; 200 are ample."""
    small_crowd = Configuration("undefended, 3-vote consensus", {**UNDEFENDED.changes, "consensus_min_votes": 3},
                                unverified_limit=1)
    with deployment(small_crowd, (1, 3), SMALL, cache) as d, d.client() as http:
        assert d.services.db.count_pickable("unverified") == 1
        cell = play_cell(Arena(http), d.services, ATTACKERS["sybil-every"](0), 200, 0, Identities(),
                         small_crowd.name, (1, 3))
        learning = d.services.db.clips("learning")
    assert cell.clients == 200 and cell.counted_votes >= 3
    assert cell.learned_with_its_label == 1
    assert [row["label"] for row in learning] == [SYBIL_LABEL]


def test_the_report_round_trips_through_json_and_its_table_names_every_attacker(cache):
    report = evaluate({"random": ATTACKERS["random"], "sybil": ATTACKERS["sybil"]}, policies=((1, 3), (3, 3)),
                      configurations=(UNDEFENDED,), challenges_per_cell=5, seed=0, library=SMALL, cache_dir=cache)
    assert [(c.attacker, c.policy) for c in report.cells] == [("random", "1/3"), ("sybil", "1/3"),
                                                              ("random", "3/3"), ("sybil", "3/3")]
    assert Report.from_dict(json.loads(json.dumps(report.as_dict()))) == report
    table = report.table()
    assert "random" in table and "sybil" in table and "3/3" in table
    assert report.cells[1].clients == 5 and report.cells[0].clients == 1


def test_every_attacker_plays_a_deployment_of_its_own_and_meets_no_one_elses_votes(cache):
    """Two Sybils in one evaluation, one unverified clip, consensus at 3: on a shared server the second
    would find the clip gone to learning (or its tally holding the first one's votes); each on its own
    deployment moves the clip there itself."""
    crowd = Configuration("3-vote", {**UNDEFENDED.changes, "consensus_min_votes": 3}, unverified_limit=1)
    report = evaluate({"first": ATTACKERS["sybil-every"], "second": ATTACKERS["sybil-every"]}, policies=((1, 3),),
                      configurations=(crowd,), challenges_per_cell=200, seed=0, library=SMALL, cache_dir=cache)
    assert [c.learned_with_its_label for c in report.cells] == [1, 1]
    assert report.cells[0].counted_votes == report.cells[1].counted_votes  # same seed, same fresh server


def test_a_report_stored_before_the_retraining_fields_still_reads():
    cell = Report.from_dict({"meta": {}, "cells": [{
        "attacker": "adaptive", "configuration": "today", "policy": "1/3", "n": 1, "passes": 1, "rate": 1.0,
        "interval": [0.2, 1.0], "chance": 0.33, "control_rounds": 1, "control_correct": 1, "control_accuracy": 1.0,
        "confusion": {}, "pass_rate_by_block": [1.0], "cpu_s": 0.1, "cpu_s_per_pass": 0.1, "clients": 1,
        "counted_votes": 0, "learned_with_its_label": 0, "learned_against_intended": 0, "wall_s": 0.2}]}).cells[0]
    assert isinstance(cell, Cell) and cell.retrain_cpu_s is None and cell.retrains is None


def test_a_configuration_is_made_of_settings_parsed_as_the_environment_would_be():
    made = configuration_from_settings("strict", ["INSIDEOUT_CONSENSUS_MIN_VOTES=20", "CONSENSUS_MIN_SHARE=0.8"])
    assert made == Configuration("strict", {"consensus_min_votes": 20, "consensus_min_share": 0.8})
    assert {"today", "strict-consensus", "few-unverified"} <= set(CONFIGURATIONS)


@pytest.mark.parametrize(("assignment", "says"), [
    ("INSIDEOUT_NO_SUCH_THING=1", "not a setting"),
    ("INSIDEOUT_CONSENSUS_MIN_VOTES=many", "INSIDEOUT_CONSENSUS_MIN_VOTES"),
    ("INSIDEOUT_DATA_DIR=/tmp/elsewhere", "sets data_dir itself"),
    ("INSIDEOUT_ROUNDS_TO_PASS=2", "--policies"),
    ("CONSENSUS_MIN_VOTES", "NAME=VALUE"),
])
def test_a_configuration_refuses_what_it_cannot_use_and_says_why(assignment, says):
    with pytest.raises(ValueError, match=says):
        configuration_from_settings("custom", [assignment])


def test_today_is_the_shipped_defaults_with_fresh_clips_and_undefended_turns_them_off(cache):
    with deployment(TODAY, (1, 3), SMALL, cache) as d:
        today = d.services.settings
        restocking = d.services.restock.stats().running
    assert (today.serve_budget, today.play_pool_target) == (1, 192) and restocking
    with deployment(UNDEFENDED, (1, 3), SMALL, cache) as d:
        assert (d.services.settings.serve_budget, d.services.settings.play_pool_target) == (0, 0)
        assert not d.services.restock.stats().running


def test_a_named_configuration_changes_the_deployments_settings(cache):
    with deployment(CONFIGURATIONS["strict-consensus"], (2, 3), SMALL, cache) as d:
        settings = d.services.settings
    assert (settings.consensus_min_votes, settings.consensus_min_share) == (20, 0.8)
    assert (settings.rounds_to_pass, settings.max_rounds) == (2, 3)


def test_challenge_slots_give_every_rounds_control_and_answers(live):
    with live.client() as http:
        played = Arena(http).play(RandomGuesser(3), client="198.18.7.7")
    slots = live.services.db.challenge_slots(played.challenge_id)
    assert sorted({s.round_no for s in slots}) == [r.number for r in played.rounds]
    for r in played.rounds:
        mine = [s for s in slots if s.round_no == r.number]
        assert sum(s.is_control for s in mine) == 1
        assert {s.slot: s.answer for s in mine} == dict(r.answers)
    assert live.services.db.challenge_slots("no-such-challenge") == []


def test_the_arena_never_receives_a_clip_id_storage_name_or_label(live):
    bodies: list[bytes] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        bodies.append(response.content)

    with httpx.Client(base_url=live.url, timeout=30, event_hooks={"response": [keep]}) as http:
        arena = Arena(http)
        for i in range(10):
            arena.play(ATTACKERS["random"](i), client=f"198.18.1.{i + 1}")
            arena.play(ATTACKERS["sybil"](i), client=f"10.9.0.{i + 1}")
    rows = live.services.db.clips()
    assert len(bodies) > 60
    for body in bodies:
        for row in rows:
            assert row["audio_name"].encode() not in body and row["sha256"].encode() not in body
    for body in (b for b in bodies if b.startswith(b"{")):
        data = json.loads(body)
        assert set(data) <= {"challenge_id", "expires_at", "round", "max_rounds", "emotions", "clips", "status",
                             "token", "feedback"}
        # Emotion ids appear only as the list to choose from; nothing else in a body names one.
        rest = json.dumps({k: v for k, v in data.items() if k not in ("emotions", "token", "challenge_id")})
        assert not [e for e in EMOTION_IDS if f'"{e}"' in rest]
        for clip in data.get("clips", []):
            assert set(clip) == {"slot", "audio_url"}


def test_bots_evaluate_runs_end_to_end_and_writes_the_json_and_the_plot(cache, tmp_path):
    out, png = tmp_path / "report.json", tmp_path / "report.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDEOUT_")}
    done = subprocess.run(
        [sys.executable, "-m", "insideout", "bots", "evaluate", "--attackers", "random", "--challenges", "5",
         "--configurations", "undefended", "--policies", "1/3", "2/3", "--starter-per-emotion",
         str(SMALL.clips_per_emotion), "--unverified-share", str(SMALL.unverified_share), "--library-cache",
         str(cache), "--out", str(out), "--plot", str(png)],
        env={**env, "INSIDEOUT_DATA_DIR": str(tmp_path / "untouched")}, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "random" in done.stdout and "1/3" in done.stdout and "2/3" in done.stdout
    report = Report.from_dict(json.loads(out.read_text()))
    assert [(c.attacker, c.policy, c.n) for c in report.cells] == [("random", "1/3", 5), ("random", "2/3", 5)]
    assert png.read_bytes().startswith(b"\x89PNG")
    assert not (tmp_path / "untouched").exists()


def test_bots_evaluate_plays_a_configuration_given_by_settings(cache, tmp_path):
    out = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDEOUT_")}
    done = subprocess.run(
        [sys.executable, "-m", "insideout", "bots", "evaluate", "--attackers", "random", "--challenges", "3",
         "--policies", "1/3", "--configurations", "undefended", "--set", "INSIDEOUT_CONSENSUS_MIN_VOTES=20",
         "--set-name", "twenty", "--starter-per-emotion", str(SMALL.clips_per_emotion), "--unverified-share",
         str(SMALL.unverified_share), "--library-cache", str(cache), "--out", str(out), "--plot",
         str(tmp_path / "r.png"), "--no-store"],
        env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert [c["configuration"] for c in report["cells"]] == ["undefended", "twenty"]
    assert report["meta"]["configurations"]["twenty"]["changes"] == {"consensus_min_votes": 20}
    bad = subprocess.run([sys.executable, "-m", "insideout", "bots", "evaluate", "--set", "INSIDEOUT_NOPE=1"],
                         env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 2 and "INSIDEOUT_NOPE" in bad.stderr


def test_a_running_server_at_a_url_is_measured_by_pass_rates_alone(tmp_path):
    import ipaddress

    from tests.conftest import serve

    with serve(tmp_path, trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),)) as live:
        report = evaluate({"random": ATTACKERS["random"]}, policies=((1, 3),), challenges_per_cell=6, seed=0,
                          url=live.url)
        played = live.services.dashboard.pass_rates()
    (cell,) = report.cells
    assert cell.configuration == "remote" and cell.n == 6 and report.meta["url"] == live.url
    assert played.challenges_passed + played.challenges_failed == 6 and cell.passes == played.challenges_passed
    assert cell.control_accuracy is None and cell.learned_with_its_label is None
    assert "n/a" in report.table()


def test_a_server_whose_limits_refuse_the_run_is_a_clear_error(tmp_path):
    import subprocess
    import sys

    from tests.conftest import serve

    with serve(tmp_path, rate_limit_per_min=2) as live:
        result = subprocess.run([sys.executable, "-m", "insideout", "bots", "evaluate", "--attackers", "random",
                                 "--policies", "1/3", "--challenges", "5", "--url", live.url, "--no-store",
                                 "--out", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "HTTP 429" in result.stderr and "RATE_LIMIT" in result.stderr
    assert "Traceback" not in result.stderr


def test_undefended_turns_every_fresh_clip_and_serving_defence_off():
    changes = UNDEFENDED.changes
    assert changes["preset_variation"] == changes["clip_pitch_st"] == changes["clip_tempo"] == 0
    assert changes["serve_noise_snr_db"] == changes["serve_crop_s"] == 0
    assert changes["machine_hard"] == changes["adversarial_snr_db"] == 0 and changes["serve_gain_db"] == 1.0


def test_a_fresh_only_deployment_serves_nothing_but_fresh_clips_of_its_own_recipe(cache):
    fresh = Configuration("fresh", {"serve_budget": 1, "play_pool_target": 12, "preset_variation": 0.2},
                          fresh_only=True)
    with deployment(fresh, (1, 3), SMALL, cache) as d, d.client() as http:
        arena = Arena(http)
        for i in range(3):
            arena.play(RandomGuesser(i), f"198.51.100.{i + 1}")
        served = [row for row in d.services.db.clips("play") if row["served"]]
    assert served and all(row["source"] == "restock" for row in served)
    assert all(row["provenance"]["variation"]["spread"] == 0.2 for row in served)


def test_the_defence_aware_attacker_renders_its_recipe_through_the_sites_strengths(cache):
    from insideout.botlab.attackers.acoustic import Defences, Recipe, render_examples

    attacker = ATTACKERS["acoustic-aware"](0)
    assert attacker.name == "acoustic-aware" and attacker.recipe.defences == Defences.shipped()
    site = Configuration("site", {"serve_noise_snr_db": 25.0, "preset_variation": 0.3})
    with deployment(site, (1, 3), SMALL, cache) as d:
        attacker.know_settings(d.services.settings)
    assert attacker.recipe.defences.serve_noise_snr_db == 25.0 and attacker.recipe.defences.preset_variation == 0.3
    plain = ATTACKERS["acoustic"](0)
    plain.know_settings(d.services.settings)  # the recipe-only bot ignores what the site says
    assert plain.recipe.defences is None
    small = Recipe(1, 0, ("espeak-m",), attacker.recipe.defences)
    aware, public = render_examples(small), render_examples(Recipe(1, 0, ("espeak-m",)))
    assert [e.emotion for e in aware] == list(EMOTION_IDS)
    for a, p in zip(aware, public, strict=True):
        assert not (a.wave.size == p.wave.size and abs(a.wave - p.wave).max() < 1e-3)
    assert Recipe(1, 0, ("espeak-m",)).key(["espeak-m"]) != small.key(["espeak-m"])
