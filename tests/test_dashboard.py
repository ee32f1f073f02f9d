"""The admin dashboard's charts, summary and agreement as the handlers send them, checked against values
computed by hand from a seeded database, in English and Korean."""

from __future__ import annotations

import json
import sqlite3
import time

import gradio as gr
import pytest

from insideout.db import Vote
from insideout.emotions import EMOTION_IDS
from insideout.web.ui import build_ui
from insideout.web.ui.common import TabState
from tests.helpers import read_table
from tests.test_stats import cast, play_challenge
from tests.test_ui_handlers import ADMIN_PASSWORD, settings, sign_in  # noqa: F401

OUTPUTS = ("summary", "table", "queue", "agreement", "voters", "overruled", "confusion", "passes", "by_emotion",
           "by_round", "over_time")


@pytest.fixture
def ui(stocked):
    return build_ui(stocked)


@pytest.fixture
def admin(ui, stocked) -> TabState:
    return sign_in(ui, stocked, "admin", ADMIN_PASSWORD)


def unvoted(services) -> list[int]:
    """The unverified clips the admin's login did not vote on (it votes once on one of them, by chance)."""
    return [c for c in services.clip_ids["unverified"] if not sum(services.db.tally(c).values())]


def dashboard(ui, tab_state, view="counts") -> dict:
    """The dashboard with Dawid-Skene's estimate up to date (a refresh would otherwise show the last one)."""
    ui.admin.board.dawid_skene(wait=True)
    return dict(zip(OUTPUTS, ui.admin.refresh(tab_state, "all", "all", "clip", view), strict=True))


def spec(plot) -> dict:
    return json.loads(plot.plot)


def values(plot) -> list[dict]:
    return spec(plot)["data"]["values"]


@pytest.fixture
def issue_traffic(stocked):
    """The issue's hour: six challenges passed in round 1 and one failed in all three, after the admin's login
    (which passed round 1 too, so round 1 reads 7 of 8)."""
    challenges = [play_challenge(stocked, [True], client=f"203.0.113.{20 + i}")[0] for i in range(6)]
    challenges.append(play_challenge(stocked, [False, False, False])[0])
    return challenges


def rounds_by_control_label(services) -> dict[str, list[int]]:
    """By hand: each answered round's control clip's label -> [passed, answered] (a round passes when its
    control clip is named right)."""
    with sqlite3.connect(services.settings.data_dir / "insideout.db") as con:
        ids = [row[0] for row in con.execute("SELECT id FROM challenges")]
    out: dict[str, list[int]] = {}
    for challenge_id in ids:
        for slot in services.db.challenge_slots(challenge_id):
            if slot.is_control and slot.answer is not None:
                label = services.db.get_clip(slot.clip_id)["label"]
                entry = out.setdefault(label, [0, 0])
                entry[0] += slot.answer == label
                entry[1] += 1
    return out


# -- charts --------------------------------------------------------------------------------------


def test_every_series_of_the_issues_hour_is_drawn_with_its_count_and_interval(ui, admin, issue_traffic):
    chart = dashboard(ui, admin)["over_time"]
    points = {(v["series"], v["passed"], v["n"], v["rate"], v["low"], v["high"]) for v in values(chart)}
    # Wilson 95 % by hand: 7/8 -> (52.9, 97.8); 0/1 -> (0, 79.3); 7/10 -> (39.7, 89.2).
    assert points == {("round 1", 7, 8, 87.5, 52.9, 97.8), ("round 2", 0, 1, 0.0, 0.0, 79.3),
                      ("round 3", 0, 1, 0.0, 0.0, 79.3), ("all rounds", 7, 10, 70.0, 39.7, 89.2)}
    drawn = spec(chart)
    line = drawn["layer"][1]["mark"]
    assert line["type"] == "line" and line["point"]  # a series of one period is a visible point
    assert drawn["encoding"]["x"]["title"] == "time (UTC, per minute)"
    assert drawn["title"] == {"text": "Round pass rate over time, per round",
                              "subtitle": "n = 10 answered rounds, per minute; vertical lines: 95 % Wilson interval"}


def test_pass_rate_bars_show_n_and_interval_and_no_data_as_no_data(ui, admin, stocked, issue_traffic):
    by_hand = rounds_by_control_label(stocked)
    bars = values(dashboard(ui, admin)["by_emotion"])
    assert [b["key"] for b in bars] == ["Neutral", "Calm", "Happy", "Sad", "Angry", "Fearful", "Disgust", "Surprised"]
    for bar, emotion in zip(bars, EMOTION_IDS, strict=True):
        passed, n = by_hand.get(emotion, [0, 0])
        assert (bar["passed"], bar["n"]) == (passed, n)
        if n:
            assert bar["rate"] == round(100 * passed / n, 1) and bar["label"] == f"{passed}/{n}"
            assert bar["low"] <= bar["rate"] <= bar["high"]
        else:  # missing, never zero: no bar, the words instead
            assert (bar["rate"], bar["low"], bar["high"], bar["label"]) == (None, None, None, "no data")
    rounds = values(dashboard(ui, admin)["by_round"])
    assert [(b["key"], b["passed"], b["n"], b["rate"]) for b in rounds] == [
        ("round 1", 7, 8, 87.5), ("round 2", 0, 1, 0.0), ("round 3", 0, 1, 0.0)]


def test_the_confusion_matrix_has_counts_and_a_row_normalized_view(ui, admin, stocked):
    clip = unvoted(stocked)[0]
    name = {"neutral": "Neutral", "calm": "Calm", "happy": "Happy", "sad": "Sad"}[
        stocked.db.get_clip(clip)["intended_emotion"]]
    cast(stocked, clip, ["calm", "calm", "sad"])
    counts = values(dashboard(ui, admin)["confusion"])
    row = {c["crowd"]: c for c in counts if c["intended"] == f"{name} (n=3)"}
    assert (row["Calm"]["text"], row["Sad"]["text"], row["Happy"]["text"]) == ("2", "1", "0")
    shares = values(ui.admin.confusion_plot(admin, "shares"))
    row = {c["crowd"]: c for c in shares if c["intended"] == f"{name} (n=3)"}
    assert (row["Calm"]["value"], row["Sad"]["value"], row["Happy"]["value"]) == (66.7, 33.3, 0.0)
    empty = [c for c in shares if c["intended"] == "Surprised (n=0)"]
    assert len(empty) == 8 and all(c["value"] is None and c["text"] == "" for c in empty)  # gray, not zeros


def test_every_chart_is_titled_and_its_axes_named(ui, admin, issue_traffic):
    out = dashboard(ui, admin)
    for name in ("confusion", "by_emotion", "by_round", "over_time"):
        drawn = spec(out[name])
        assert drawn["title"]["text"] and drawn["title"]["subtitle"] and drawn["description"]
        axes = [drawn["encoding"]["x"]["title"]]
        axes += [layer["encoding"]["y"]["title"] for layer in drawn["layer"]
                 if "title" in layer["encoding"].get("y", {})]
        axes += [drawn["encoding"]["y"]["title"]] if "y" in drawn["encoding"] else []
        assert len(axes) >= 2 and all(axes), name


# -- the summary and agreement -------------------------------------------------------------------


def test_the_summary_reads_pools_votes_consensus_policy_model_and_jobs(ui, admin, stocked):
    a, b, *_ = unvoted(stocked)
    cast(stocked, a, ["sad"] * 9)
    stocked.db.insert_votes([Vote(b, "yesterday", "calm", True, "labeling")], time.time() - 2 * 86400)
    summary = dashboard(ui, admin)["summary"]
    header, rule, row = summary.splitlines()[2:]
    assert header == "| Clip pools | Votes | Near consensus | Captcha policy | Generating model | Running jobs |"
    # the admin's login cast one vote too (on an unverified clip, counted)
    assert "**10** today, 11 in total (11 counted)" in row and "**1** clips one agreeing vote away" in row
    assert "pass 1 of 3 rounds; chance **33.0%**" in row and "the shipped default" in row and row.endswith("none |")


def test_agreement_says_why_it_cannot_be_computed(ui, admin, stocked):
    for clip in stocked.clip_ids["play"][:4]:  # clips the admin's login did not vote on
        cast(stocked, clip, ["sad"], start=50)
    text = dashboard(ui, admin)["agreement"]
    assert "5 counted votes on 5 clips" in text  # and the login's one
    assert "**Fleiss' kappa: not computed.** No clip has two counted votes yet" in text
    assert "**Dawid-Skene: not computed.** No clip has two counted votes yet" in text


def test_agreement_shows_kappa_alpha_and_dawid_skene_with_their_counts(ui, admin, stocked):
    for clip, emotion in zip(stocked.clip_ids["play"][:8], EMOTION_IDS, strict=True):
        cast(stocked, clip, [emotion, emotion, emotion, "angry"])
    out = dashboard(ui, admin)
    text = out["agreement"]
    assert "**Fleiss' kappa: " in text and "(8 clips, each with its first 4 counted votes)" in text
    assert "(8 clips, 32 votes)" in out["agreement"]
    assert "over 32 counted votes on 8 clips by 4 voters" in out["agreement"]
    voters = read_table(out["voters"]).frame
    assert list(voters.columns) == ["voter (pseudonym)", "votes", "quality (Dawid-Skene)", "agrees with majority"]
    assert len(voters) == 4 and "voter0" not in voters.to_string()


# -- Korean --------------------------------------------------------------------------------------


def test_the_dashboard_is_korean_after_the_switch(ui, admin, stocked, issue_traffic):
    korean = ui.set_lang(admin, "ko")[ui.state]
    out = dict(zip(OUTPUTS, ui.admin.redraw(korean, "all", "all", "clip", "counts"), strict=True))
    assert "| 음성 풀 | 표 | 합의 임박 | CAPTCHA 정책 | 생성 모델 | 실행 중인 작업 |" in out["summary"]
    assert "출제 **16**" in out["summary"] and "기본 제공 모델" in out["summary"]
    assert spec(out["by_emotion"])["title"]["text"] == "기준 음성의 감정별 라운드 통과율"
    assert [b["key"] for b in values(out["by_emotion"])][:2] == ["중립", "차분함"]
    assert "자료 없음" in {b["label"] for b in values(out["by_emotion"])}
    assert {v["series"] for v in values(out["over_time"])} == {"라운드 1", "라운드 2", "라운드 3", "전체 라운드"}
    assert spec(out["over_time"])["encoding"]["x"]["title"] == "시간 (UTC, 분 단위)"
    assert spec(out["confusion"])["encoding"]["y"]["title"] == "의도한 감정"
    table = read_table(out["table"])
    assert list(table.frame.columns)[:3] == ["음성", "풀", "상태"] and "Fleiss 카파" in out["agreement"]
    assert table.caption == "집계" and "미검증" in set(table.frame["풀"])


def test_the_switch_redraws_nothing_for_a_volunteer(ui, stocked):
    from insideout.accounts import DEMO_PASSWORD

    alice = sign_in(ui, stocked, "alice", DEMO_PASSWORD)
    assert ui.admin.redraw(alice, "all", "all", "clip", "counts") == [gr.skip()] * len(OUTPUTS)


def test_a_table_sends_its_first_rows_and_says_how_many_there_are(ui, admin, stocked, monkeypatch):
    from insideout.web.ui import admin as admin_view

    monkeypatch.setattr(admin_view, "TABLE_ROWS", 3)  # four unverified clips: one more than shown
    table = read_table(dashboard(ui, admin)["table"])
    assert len(table.frame) == 3
    assert table.caption == "Tallies (the first 3 of 4; the CSV export has every row)"


def test_a_refresh_after_new_votes_shows_the_last_estimate_and_makes_a_new_one(ui, admin, stocked):
    for clip, emotion in zip(stocked.clip_ids["play"][:8], EMOTION_IDS, strict=True):
        cast(stocked, clip, [emotion, emotion, "angry"])
    first = dashboard(ui, admin)["agreement"]
    assert "over 24 counted votes" in first and "newest" not in first
    cast(stocked, stocked.clip_ids["play"][8], ["sad", "sad"], start=20)
    board = ui.admin.board
    stale = board.dawid_skene()
    assert (stale.votes, stale.pending) == (24, 2)
    text = ui.admin.refresh(admin, "all", "all", "clip", "counts")[3]
    assert "over 24 counted votes" in text and "Estimated before the newest 2 counted votes" in text
    board._ds_thread.join(30)
    assert (board.dawid_skene().votes, board.dawid_skene().pending) == (26, 0)


def test_a_table_is_plain_html_with_its_caption_its_cells_escaped_and_a_line_when_empty():
    import pandas as pd

    from insideout.web.ui.dashboard import table_html

    markup = table_html(pd.DataFrame([(7, "<b>x</b>", 0.5)], columns=["clip", "text", "share"]), "A & B", "None.")
    assert "<b>" not in markup and "&lt;b&gt;x&lt;/b&gt;" in markup
    assert 'role="region" tabindex="0" aria-label="A &amp; B"' in markup  # it scrolls: reachable by keyboard
    shown = read_table(markup)
    assert shown.caption == "A & B" and shown.frame.to_dict("records") == [{"clip": "7", "text": "<b>x</b>",
                                                                           "share": "0.5"}]
    assert '<th scope="col" class=num>clip</th>' in markup  # numbers align right
    empty = table_html(pd.DataFrame([], columns=["clip"]), "Queue", "No rows.")
    assert read_table(empty).frame.empty and '<td colspan="1">No rows.</td>' in empty


def test_the_dashboard_benchmark_runs_at_a_small_size(capsys):
    import argparse

    from insideout.commands import bench_dashboard

    parser = argparse.ArgumentParser()
    bench_dashboard.add_arguments(parser)
    args = parser.parse_args(["--votes", "60", "--clips", "20", "--voters", "6", "--challenges", "2", "--repeat", "1"])
    assert bench_dashboard.run(args, None) == 0
    printed = capsys.readouterr().out
    assert "seeded 62 votes" in printed  # 60 labels and the 2 challenges' votes on unverified clips
    assert "admin tab (the dashboard), server side, 63 votes: first" in printed
    assert "sections, opened: models" in printed and "bot lab" in printed and "sites" in printed
