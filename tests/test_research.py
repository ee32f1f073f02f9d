"""The bot lab in the app (insideout/research.py, stats.research, the admin's Bot lab panel): evaluations kept in
a real SQLite store, the live pass rates per policy from challenges played through the engine, the statement
the numbers make, the admin's handlers, and a tiny real evaluation run as a background job (its own server on
loopback over a tiny starter library) and `insideout bots evaluate` storing its report."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest

from insideout.accounts import DEMO_PASSWORD
from insideout.captcha import Policy
from insideout.cli import main
from insideout.corpus.starter import StarterConfig
from insideout.db import Database
from insideout.jobs import BOT_EVALUATION
from insideout.research import COMMAND, EvaluationError, Research, statement
from insideout.services import build_services
from insideout.stats import BotCell, HumanRate, ResearchView
from insideout.web.ui import build_ui
from insideout.web.ui.common import TabState
from tests.conftest import make_settings, stock, use_deployment
from tests.helpers import answers
from tests.test_ui_handlers import ADMIN_PASSWORD, settings, sign_in  # noqa: F401 - settings: the admin's fixture

TINY = StarterConfig(clips_per_emotion=3, unverified_share=0.34)  # 2 play + 1 unverified per emotion



def cell(attacker: str, passes: int, n: int, policy: str = "1/3", low: float = 0.0, high: float = 1.0) -> dict:
    """A report cell as evaluation.Report.as_dict writes it (the fields the panel reads, and some it does not)."""
    chance = Policy(*map(int, policy.split("/"))).chance_pass_probability()
    return {"attacker": attacker, "configuration": "today", "policy": policy, "n": n, "passes": passes,
            "rate": passes / n, "interval": [low, high], "chance": chance, "control_accuracy": 0.5}


def report(*cells: dict, n: int = 100) -> dict:
    return {"meta": {"challenges_per_cell": n, "seed": 0}, "cells": list(cells)}


# Under pass 1 of 3 chance is 33 %: memory's interval lies above it, random's reaches down to it.
ABOVE = cell("memory", 78, 100, low=0.69, high=0.85)
WITHIN = cell("random", 35, 100, low=0.26, high=0.45)


def play(services, client: str, right: bool) -> str:
    """One challenge through the engine to its end, every control answered right or every one wrong."""
    challenge_id = services.captcha.create(client).challenge_id
    while True:
        result = services.captcha.answer(challenge_id, answers(services, challenge_id, right), client)
        if result.status != "retry":
            return result.status


# -- the store -----------------------------------------------------------------------------------


def test_an_evaluation_is_stored_whole_and_the_latest_one_is_read_back(tmp_path):
    db = Database(tmp_path / "a.db")
    assert db.latest_bot_evaluation() is None
    first = db.add_bot_evaluation(report(WITHIN), 1000.0)
    second = db.add_bot_evaluation(report(ABOVE, WITHIN), 1000.0, job_id=7)  # same second: still the later
    latest = db.latest_bot_evaluation()
    assert second > first
    assert latest == {"id": second, "created_at": 1000.0, "job_id": 7, "report": report(ABOVE, WITHIN)}
    assert Database(tmp_path / "a.db").latest_bot_evaluation()["id"] == second  # it outlives the process's handle


# -- the live pass rates per policy --------------------------------------------------------------


def test_people_pass_rates_are_counted_per_policy_each_challenge_was_opened_under(stocked, tmp_path):
    assert play(stocked, "198.51.100.1", right=True) == "passed"
    assert play(stocked, "198.51.100.2", right=True) == "passed"
    assert play(stocked, "198.51.100.3", right=False) == "failed"
    stocked.captcha.create("198.51.100.4")  # open: neither passed nor failed
    # The same data dir, served later under pass 2 of 3: its challenges record their own policy.
    stricter = build_services(replace(stocked.settings, rounds_to_pass=2, max_rounds=3))
    assert play(stricter, "198.51.100.5", right=False) == "failed"

    assert stocked.db.pass_counts_by_policy() == [(1, 3, 2, 1), (2, 3, 0, 1)]
    view = stricter.dashboard.research()
    assert view.policy == "2/3" and view.chance == pytest.approx(Policy(2, 3).chance_pass_probability())
    assert not view.evaluated and view.cells == ()
    loose, strict = view.humans
    assert (loose.policy, loose.passed, loose.failed, loose.rate) == ("1/3", 2, 1, pytest.approx(2 / 3))
    assert loose.interval[0] < 2 / 3 < loose.interval[1]
    assert (strict.policy, strict.rate, strict.interval[0]) == ("2/3", 0.0, 0.0)


def test_the_view_carries_the_latest_evaluations_cells(stocked):
    stocked.db.add_bot_evaluation(report(WITHIN), time.time())
    stocked.db.add_bot_evaluation(report(ABOVE, n=250), time.time())
    view = stocked.dashboard.research()
    assert view.evaluated and view.challenges_per_cell == 250
    assert view.cells == (BotCell("memory", "today", "1/3", 78, 100, 0.78, (0.69, 0.85), ABOVE["chance"]),)


# -- the statement -------------------------------------------------------------------------------


def view_of(*cells: dict, humans: tuple[HumanRate, ...] = ()) -> ResearchView:
    return ResearchView("1/3", Policy(1, 3).chance_pass_probability(), tuple(
        BotCell(c["attacker"], c["configuration"], c["policy"], c["passes"], c["n"], c["rate"], tuple(c["interval"]),
                c["chance"]) for c in cells), humans, evaluation_id=1 if cells else None)


def test_an_attacker_above_chance_is_not_stopped_and_one_within_chance_is():
    people = HumanRate("1/3", 9, 1, 0.9, (0.6, 0.98), Policy(1, 3).chance_pass_probability())
    said = statement(view_of(ABOVE, WITHIN, cell("acoustic", 49, 100, policy="3/3", low=0.4, high=0.6),
                             humans=(people,)))
    assert said.evaluated and said.covered
    assert said.not_stopped == ("memory",) and said.stopped == ("random",)  # 3/3 is not the policy in force
    assert said.evaluated_policies == ("1/3", "3/3") and said.human == people


def test_without_an_evaluation_the_statement_says_so_and_names_the_command():
    said = statement(view_of())
    assert not said.evaluated and not said.covered and said.command == COMMAND == "insideout bots evaluate"
    assert said.not_stopped == said.stopped == () and said.human is None


def test_an_evaluation_of_other_policies_does_not_judge_the_policy_in_force():
    said = statement(view_of(cell("random", 1, 100, policy="3/3", low=0.0, high=0.05)))
    assert said.evaluated and not said.covered and said.evaluated_policies == ("3/3",)


# -- the admin's panel ---------------------------------------------------------------------------


@pytest.fixture
def ui(stocked):
    return build_ui(stocked)


def bot_lab_calls(admin, tab_state):
    return [lambda: admin.bot_lab_panel(tab_state), lambda: admin.evaluation_status(tab_state),
            lambda: admin.start_evaluation(tab_state, ["random"], 5), lambda: admin.cancel_evaluation(tab_state)]


def test_the_bot_lab_handlers_refuse_a_volunteer_and_nobody(ui, stocked):
    for tab_state in (sign_in(ui, stocked, "alice", DEMO_PASSWORD), TabState()):
        for call in bot_lab_calls(ui.admin, tab_state):
            with pytest.raises(gr.Error, match="administrator role"):
                call()
    assert stocked.jobs.status(BOT_EVALUATION) is None  # nothing was started


def test_the_admin_sees_no_evaluation_yet_with_the_command_and_the_live_rate(ui, stocked):
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)  # the admin's own login passed one challenge
    text, cells, humans, figure, status, share, timer = ui.admin.bot_lab_panel(tab_state)
    assert "No bot evaluation yet" in text and "`insideout bots evaluate`" in text
    assert "1 of 1 closed challenges passed" in text
    assert cells.empty and figure is None and status == "No evaluation started here yet." and share == 0
    assert list(humans.iloc[0]) == ["people (live)", "1/3", "1 / 1", "100.0%", "[20.7%, 100.0%]", "33.0%"]


def test_the_admin_sees_the_latest_evaluation_in_words_table_and_plot_in_english_and_korean(ui, stocked):
    stocked.db.add_bot_evaluation(report(ABOVE, WITHIN), time.time())
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    text, cells, humans, figure, *_ = ui.admin.bot_lab_panel(tab_state)
    assert "**Not stopped** under pass 1/3: memory." in text
    assert "**Stopped** (no better than chance, 33.0%): random." in text
    assert list(cells["attacker"]) == ["memory", "random"] and list(cells["pass rate"]) == ["78.0%", "35.0%"]
    assert Path(figure).read_bytes().startswith(b"\x89PNG")
    text, cells, *_ = ui.admin.bot_lab_panel(replace(tab_state, lang="ko"))
    assert "**막지 못함**: memory" in text and "공격 봇" in cells.columns


def test_a_bad_evaluation_request_is_refused_before_anything_is_queued(ui, stocked):
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    # One message in the job's line; everything else is left as it is (no error badges over the panel).
    status = ui.admin.bot_lab.index(ui.admin.bots_status)
    for args, words in ((([], 5), "choose one or more attackers"), ((["random"], 0), "from 1 to")):
        shown = ui.admin.start_evaluation(tab_state, *args)
        assert "Evaluation not started" in shown[status] and words in shown[status]
        assert [v for i, v in enumerate(shown) if i != status] == [gr.skip()] * (len(shown) - 1)
    korean = ui.admin.start_evaluation(replace(tab_state, lang="ko"), [], 5)[status]
    assert korean.startswith("**평가를 시작하지 않았습니다:** 공격 봇을 하나 이상 고르세요")
    with pytest.raises(EvaluationError, match="unknown: nobody"):
        stocked.research.start(("nobody",))
    assert stocked.jobs.status(BOT_EVALUATION) is None


# -- real evaluations ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """The tiny starter library, built by the first evaluation of this module and copied by the next."""
    return tmp_path_factory.mktemp("botlab-library")


def test_a_background_job_evaluates_on_its_own_server_and_stores_the_report(ui, stocked, cache):
    before = stocked.db.pool_counts()
    research = Research(stocked.db, stocked.jobs, stocked.captcha.policy, cache)
    job_id = research.start(("random",), 5, library=TINY)
    stocked.jobs.wait(job_id, timeout=120)
    job = stocked.jobs.status(BOT_EVALUATION)
    assert (job.id, job.state, job.progress, job.total, job.percent) == (job_id, "done", 1, 1, 100), job.error
    stored = stocked.db.latest_bot_evaluation()
    assert job.result["evaluation_id"] == stored["id"] and stored["job_id"] == job_id
    assert [(c["attacker"], c["policy"], c["n"]) for c in stored["report"]["cells"]] == [("random", "1/3", 5)]
    assert stocked.db.pool_counts() == before and stocked.db.challenge_counts() == {}  # the live library: untouched
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    text, cells, _, _, status, share, _ = ui.admin.evaluation_status(tab_state)
    assert f"Stored as evaluation #{stored['id']}." in status and share == 100
    assert list(cells["attacker"]) == ["random"]


def test_bots_evaluate_stores_its_report_in_the_data_dirs_store(tmp_path, cache, monkeypatch, capsys):
    data = tmp_path / "data"
    services = build_services(make_settings(data))
    stock(services)
    use_deployment(monkeypatch, services.settings)
    argv = ["bots", "evaluate", "--attackers", "random", "--challenges", "3", "--policies", "1/3",
            "--starter-per-emotion", str(TINY.clips_per_emotion), "--unverified-share", str(TINY.unverified_share),
            "--library-cache", str(cache), "--out", str(tmp_path / "r.json"), "--plot", str(tmp_path / "r.png")]
    assert main(argv) == 0
    stored = services.db.latest_bot_evaluation()
    assert "stored as evaluation" in capsys.readouterr().out and stored["report"]["cells"][0]["n"] == 3
    assert main([*argv, "--no-store"]) == 0
    assert services.db.latest_bot_evaluation()["id"] == stored["id"]
