"""The Gradio views: their handlers called directly on a real stocked library, then the launched app
through gradio_client, as another program would use it."""

import csv
import io
import json
import os
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from starlette.requests import Request

from insideout.accounts import DEMO_PASSWORD, Session
from insideout.emotions import EMOTION_IDS
from insideout.labeling import LabelingTurn
from insideout.services import build_services
from insideout.web.ui import build_ui
from insideout.web.ui.common import TabState, use_private_temp_dir
from tests.conftest import make_settings, serve, stock
from tests.helpers import answers

ADMIN_PASSWORD = "admin-password-for-tests"


def request(session: str = "tab-1", host: str = "198.51.100.7") -> gr.Request:
    """What Gradio hands a handler: the HTTP request (a real Starlette one) and the tab's session."""
    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b"",
             "client": (host, 50000)}
    return gr.Request(request=Request(scope), session_hash=session)


@pytest.fixture
def settings(tmp_path):
    """The services of these tests know the admin's password (the composition root builds the accounts)."""
    return make_settings(tmp_path / "data", admin_password=ADMIN_PASSWORD)


@pytest.fixture
def ui(stocked):
    return build_ui(stocked)


def picks(services, tab_state: TabState, right: bool) -> list:
    """The page's choices, clip by clip in the order shown, read from the server's database."""
    given = answers(services, tab_state.login.round.challenge_id, right)
    ordered = [given[slot] for slot in tab_state.login.round.slots]
    return ordered + [None] * (2 - len(ordered))


def answer(ui, services, tab_state, right, req):
    return ui.login.answer(tab_state, *picks(services, tab_state, right), req)


def sign_in(ui, services, username, password, req=None) -> TabState:
    req = req or request()
    out = ui.login.start(TabState(), username, password, req)
    out = answer(ui, services, out[ui.state], True, req)
    return out[ui.state]


def shown(update) -> bool:
    return update["visible"]


def page_values(ui, out: dict) -> str:
    """Everything a handler sends to the page (the state stays on the server)."""
    return json.dumps({str(k._id): v for k, v in out.items() if k is not ui.state}, default=repr)


def secrets_of(services) -> list[str]:
    out = [str(services.settings.data_dir.resolve())]
    for row in services.db.clips():
        out += [row["audio_name"], row["sha256"]]
    return out


# -- the captcha panel -------------------------------------------------------------------------


def test_login_opens_a_round_with_audio_for_each_clip(ui, stocked):
    out = ui.login.start(TabState(), "alice", DEMO_PASSWORD, request())
    tab_state = out[ui.state]
    assert shown(out[ui.login.captcha_col]) and not shown(out[ui.login.login_col])
    assert out[ui.login.round_md] == "**Round 1 / 3**"
    assert len(tab_state.login.round.slots) == 2  # a control clip and an unverified clip
    for group, audio in zip(ui.login.groups, ui.login.audios, strict=True):
        assert shown(out[group])
        assert out[audio][:4] == b"RIFF" and out[audio][8:12] == b"WAVE"


def test_what_the_login_sends_to_the_page_names_no_clip(ui, stocked):
    out = ui.login.start(TabState(), "alice", DEMO_PASSWORD, request())
    tab_state = out[ui.state]
    sent = page_values(ui, out)
    for secret in [*secrets_of(stocked), tab_state.login.round.challenge_id, *tab_state.login.round.slots]:
        assert secret not in sent
    for emotion_id in EMOTION_IDS:
        assert f"'{emotion_id}'" not in sent and f'"{emotion_id}"' not in sent


def test_a_right_answer_signs_the_person_in(ui, stocked):
    req = request()
    tab_state = ui.login.start(TabState(), "alice", DEMO_PASSWORD, req)[ui.state]
    out = answer(ui, stocked, tab_state, True, req)
    assert out[ui.state].user == Session("alice", "volunteer")
    assert shown(out[ui.login.signed_col]) and not shown(out[ui.login.captcha_col])
    assert "Signed in as alice" in out[ui.login.welcome]
    assert not shown(out[ui.login.admin_tab])


def test_the_pass_token_is_redeemed_by_the_login(ui, stocked):
    req = request()
    tab_state = ui.login.start(TabState(), "alice", DEMO_PASSWORD, req)[ui.state]
    answer(ui, stocked, tab_state, True, req)
    with stocked.db.read() as db:
        assert db.execute("SELECT count(*) FROM tokens WHERE used_at IS NULL").fetchone()[0] == 0


def test_a_wrong_answer_gives_the_next_round_with_new_clips(ui, stocked):
    req = request()
    tab_state = ui.login.start(TabState(), "alice", DEMO_PASSWORD, req)[ui.state]
    out = answer(ui, stocked, tab_state, False, req)
    assert out[ui.login.round_md] == "**Round 2 / 3**"
    assert "Round 2 / 3" in out[ui.login.feedback]
    assert out[ui.state].login.round.slots != tab_state.login.round.slots and out[ui.state].user is None
    assert all(out[choice] is None for choice in ui.login.choices)


def test_three_wrong_rounds_give_the_bot_verdict(ui, stocked):
    req = request()
    out = ui.login.start(TabState(), "bob", DEMO_PASSWORD, req)
    for _ in range(3):
        out = answer(ui, stocked, out[ui.state], False, req)
    assert "Bot verdict" in out[ui.login.login_msg] and "60 s" in out[ui.login.login_msg]
    assert shown(out[ui.login.login_col]) and not shown(out[ui.login.captcha_col])
    assert out[ui.state].user is None and out[ui.state].login is None


def test_after_a_bot_verdict_the_name_and_the_session_wait(ui, stocked):
    req = request("tab-bot")
    out = ui.login.start(TabState(), "bob", DEMO_PASSWORD, req)
    for _ in range(3):
        out = answer(ui, stocked, out[ui.state], False, req)
    before = stocked.db.challenge_counts()
    for name, tab in (("bob", "tab-bot"), ("bob", "tab-other"), ("carol", "tab-bot")):
        again = ui.login.start(TabState(), name, DEMO_PASSWORD, request(tab))
        assert "Try again in" in again[ui.login.login_msg]
        assert not shown(again[ui.login.captcha_col])
    assert stocked.db.challenge_counts() == before  # no captcha was opened meanwhile
    other = ui.login.start(TabState(), "carol", DEMO_PASSWORD, request("tab-other"))
    assert shown(other[ui.login.captcha_col])


def test_a_wrong_password_is_told_only_after_a_passed_captcha(ui, stocked):
    req = request()
    out = ui.login.start(TabState(), "alice", "not-the-password", req)
    assert shown(out[ui.login.captcha_col])
    out = answer(ui, stocked, out[ui.state], True, req)
    assert "wrong" in out[ui.login.login_msg]
    assert out[ui.state].user is None and not shown(out[ui.login.signed_col])


def test_an_answer_needs_a_pick_for_every_clip(ui, stocked):
    req = request()
    tab_state = ui.login.start(TabState(), "alice", DEMO_PASSWORD, req)[ui.state]
    out = ui.login.answer(tab_state, "happy", None, req)
    assert out == {ui.login.feedback: "Pick an emotion for every clip."}
    assert stocked.db.get_challenge(tab_state.login.round.challenge_id).round == 1


def test_an_answer_to_a_closed_challenge_returns_to_the_login(ui, stocked):
    req = request()
    tab_state = ui.login.start(TabState(), "alice", DEMO_PASSWORD, req)[ui.state]
    answer(ui, stocked, tab_state, True, req)
    out = ui.login.answer(tab_state, "happy", "sad", req)  # the same round again
    assert "expired or is closed" in out[ui.login.login_msg]
    assert out[ui.state].user is None


def test_a_second_submit_after_the_pass_keeps_the_person_signed_in(ui, stocked):
    tab_state = sign_in(ui, stocked, "alice", DEMO_PASSWORD)
    out = ui.login.answer(tab_state, "happy", "sad", request())
    assert out[ui.state].user == tab_state.user and shown(out[ui.login.signed_col])


def test_logging_out_forgets_the_user(ui, stocked):
    tab_state = sign_in(ui, stocked, "alice", DEMO_PASSWORD)
    out = ui.login.logout(tab_state)
    assert out[ui.state].user is None and shown(out[ui.login.login_col])


def test_the_captcha_and_the_api_see_the_same_client(ui, stocked):
    ui.login.start(TabState(), "alice", DEMO_PASSWORD, request(host="192.0.2.44"))
    with stocked.db.read() as db:
        assert db.execute("SELECT client FROM challenges").fetchone()[0] == "192.0.2.44"


# -- labeling ----------------------------------------------------------------------------------


def test_a_signed_in_volunteer_gets_an_unverified_clip(ui, stocked):
    tab_state = sign_in(ui, stocked, "alice", DEMO_PASSWORD)
    out = ui.labeling.on_sign_in(tab_state)
    assert out[ui.state].labeling.clip_id in stocked.clip_ids["unverified"]
    assert out[ui.labeling.audio][:4] == b"RIFF"


def test_a_label_counts_once_and_the_next_clip_follows(ui, stocked):
    tab_state = ui.labeling.on_sign_in(sign_in(ui, stocked, "alice", DEMO_PASSWORD))[ui.state]
    clip = tab_state.labeling.clip_id
    out = ui.labeling.send(tab_state, "sad", request())
    assert out[ui.labeling.message] == "Thank you: your vote counts."
    assert stocked.db.tally(clip) == {"sad": 1}
    assert out[ui.state].labeling.clip_id not in (clip, None)
    again = ui.labeling.send(tab_state, "calm", request())  # the same clip once more (a double click)
    assert "already voted" in again[ui.labeling.message]
    assert stocked.db.tally(clip) == {"sad": 1}


def test_skipping_shows_another_clip_without_a_vote(ui, stocked):
    tab_state = ui.labeling.on_sign_in(sign_in(ui, stocked, "alice", DEMO_PASSWORD))[ui.state]
    out = ui.labeling.skip(tab_state)
    assert out[ui.state].labeling.clip_id not in (tab_state.labeling.clip_id, None)
    assert stocked.db.tally(tab_state.labeling.clip_id) == {}


def test_labeling_says_so_when_every_clip_has_the_persons_vote(ui, stocked):
    tab_state = ui.labeling.on_sign_in(sign_in(ui, stocked, "alice", DEMO_PASSWORD))[ui.state]
    for _ in stocked.clip_ids["unverified"]:
        out = ui.labeling.send(tab_state, "sad", request())
        tab_state = out[ui.state]
    assert tab_state.labeling.clip_id is None and tab_state.labels_sent == 4
    assert "No clip needs your label" in ui.labeling.skip(tab_state)[ui.labeling.message]


def test_labeling_refuses_someone_not_signed_in(ui, stocked):
    with pytest.raises(gr.Error, match="Sign in first"):
        ui.labeling.send(TabState(labeling=LabelingTurn(stocked.clip_ids["unverified"][0])), "sad", request())
    assert stocked.db.tally(stocked.clip_ids["unverified"][0]) == {}


def test_labeling_does_nothing_after_a_login_that_did_not_sign_in(ui):
    tab_state = TabState()
    assert ui.labeling.on_sign_in(tab_state) == {ui.state: tab_state}


# -- the admin dashboard -----------------------------------------------------------------------


def admin_calls(ui, tab_state):
    admin = ui.admin
    return [lambda: admin.refresh(tab_state, "all", "all", "clip"),
            lambda: admin.tally(tab_state, "all", "all", "clip"),
            lambda: admin.play(tab_state, 1), lambda: admin.export(tab_state),
            lambda: admin.generate(tab_state, 2, ["happy"]), lambda: admin.cancel_generation(tab_state),
            lambda: admin.generation_status(tab_state)]


def test_every_admin_handler_refuses_a_volunteer(ui, stocked):
    tab_state = sign_in(ui, stocked, "alice", DEMO_PASSWORD)
    for call in admin_calls(ui, tab_state):
        with pytest.raises(gr.Error, match="administrator role"):
            call()


def test_every_admin_handler_refuses_nobody(ui):
    for call in admin_calls(ui, TabState()):
        with pytest.raises(gr.Error, match="administrator role"):
            call()


def test_a_forged_admin_session_is_refused(ui):
    for call in admin_calls(ui, TabState(user=Session("alice", "admin"))):
        with pytest.raises(gr.Error):
            call()


def test_the_admin_signs_in_and_sees_the_admin_tab(ui, stocked):
    req = request()
    tab_state = ui.login.start(TabState(), "admin", ADMIN_PASSWORD, req)[ui.state]
    out = answer(ui, stocked, tab_state, True, req)
    assert out[ui.state].user.is_admin and shown(out[ui.login.admin_tab])


def test_the_dashboard_shows_pools_tallies_agreement_plots_and_policy(ui, stocked):
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    (pools, policy, table, queue, agreement, confusion, passes, by_emotion, by_round,
     over_time) = ui.admin.refresh(tab_state, "all", "all", "clip")
    assert pools == {"play": 16, "unverified": 4, "learning": 0, "retired": 0}
    assert "33.0%" in policy  # 1 - (7/8)^3 for one of three rounds
    assert isinstance(table, pd.DataFrame) and list(table["clip"]) == stocked.clip_ids["unverified"]
    assert sorted(queue["votes_needed"]) == [9, 10, 10, 10]  # the admin's login voted once
    assert "Fleiss' kappa" in agreement and "Krippendorff's alpha" in agreement
    assert confusion.axes  # a matplotlib figure
    assert "1 passed" in passes  # the admin's own login
    assert list(by_emotion["value"]["pass_rate"]) == [100.0]
    assert list(by_round["pass_rate"]) == [100.0] and len(over_time) == 2


def test_the_admin_starts_a_generation_and_sees_it_finish(ui, stocked, tmp_path):
    from dataclasses import replace

    from tests import tts_fixtures

    model = str(tts_fixtures.write_insideout(tmp_path / "m.pt"))
    stocked.generation.settings = replace(stocked.generation.settings, tts_checkpoint=model)
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    assert ui.admin.generation_status(tab_state)[0] == "No generation yet."
    text, share, timer = ui.admin.generate(tab_state, 3, ["sad", "calm"])
    assert "Generation job" in text
    stocked.jobs.wait(stocked.db.latest_job("generate")["id"], timeout=120)
    text, share, timer = ui.admin.generation_status(tab_state)
    assert "done" in text and "3 / 3 clips" in text and "3 made, 0 failed" in text and share == 100


def test_a_bad_generation_request_is_refused_with_a_message(ui, stocked):
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    with pytest.raises(gr.Error, match="count must be"):
        ui.admin.generate(tab_state, 0, ["sad"])
    with pytest.raises(gr.Error, match="at least one emotion"):
        ui.admin.generate(tab_state, 3, [])


def test_the_tally_filter_keeps_one_pool(ui, stocked):
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    assert ui.admin.tally(tab_state, "learning", "all", "clip").empty
    assert len(ui.admin.tally(tab_state, "unverified", "open", "votes")) == 4


def test_the_admin_plays_a_clip_by_id(ui, stocked):
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    assert ui.admin.play(tab_state, stocked.clip_ids["play"][0])[:4] == b"RIFF"
    with pytest.raises(gr.Error, match="no clip"):
        ui.admin.play(tab_state, 99_999)


def test_the_csv_export_lands_outside_the_data_dir(ui, stocked):
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    votes, tallies = (Path(p) for p in ui.admin.export(tab_state))
    assert votes.parent == tallies.parent
    assert votes.is_relative_to(os.environ["GRADIO_TEMP_DIR"])
    assert not votes.is_relative_to(stocked.settings.data_dir.resolve())
    assert next(csv.reader(io.StringIO(votes.read_text())))[:3] == ["id", "clip_id", "voter"]
    assert len(list(csv.DictReader(io.StringIO(tallies.read_text())))) == 4


# -- language ----------------------------------------------------------------------------------


def test_the_language_switch_turns_the_page_korean(ui, stocked):
    tab_state = sign_in(ui, stocked, "alice", DEMO_PASSWORD)
    out = ui.set_lang(tab_state, "ko")
    assert out[ui.state].lang == "ko"
    assert out[ui.login.login_btn]["value"] == "로그인"
    assert out[ui.admin.refresh_btn]["value"] == "새로 고침"
    assert "alice(으)로 로그인했습니다" in out[ui.login.welcome]
    assert out[ui.login.choices[0]]["choices"][0] == ("중립 · Neutral", "neutral")
    later = ui.login.logout(out[ui.state])
    assert later[ui.login.login_msg] == "로그아웃했습니다."


def test_the_language_switch_turns_the_bot_lab_statement_korean_at_once_for_the_admin(ui, stocked):
    admin = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    assert "아직 봇 평가가 없습니다" in ui.set_lang(admin, "ko")[ui.admin.bots_statement]
    assert "No bot evaluation yet" in ui.set_lang(admin, "en")[ui.admin.bots_statement]


def test_the_language_switch_leaves_the_bot_lab_alone_for_anyone_but_the_admin(ui, stocked):
    out = ui.set_lang(sign_in(ui, stocked, "alice", DEMO_PASSWORD), "ko")
    assert all(out[c] == gr.skip() for c in (ui.admin.bots_statement, ui.admin.bots_cells, ui.admin.bots_humans))


def test_an_unknown_language_falls_back_to_english(ui):
    assert ui.set_lang(TabState(lang="ko"), "xx")[ui.state].lang == "en"


# -- Gradio's temp dir -------------------------------------------------------------------------


def test_a_temp_dir_inside_the_data_dir_is_replaced(settings, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(settings.data_dir / "gradio"))
    path = use_private_temp_dir(settings)
    assert not path.is_relative_to(settings.data_dir.resolve())
    assert os.environ["GRADIO_TEMP_DIR"] == str(path)


def test_a_temp_dir_around_the_data_dir_is_replaced(settings, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(settings.data_dir.parent))
    path = use_private_temp_dir(settings)
    assert not settings.data_dir.resolve().is_relative_to(path)


# -- the launched app through gradio_client ----------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    # A short heartbeat lets the clients' heartbeat streams end at once on close, so the server
    # stops without waiting for them (the default rate is 15 s).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.2")
        with serve(tmp_path_factory.mktemp("ui"), admin_password=ADMIN_PASSWORD) as server:
            server.clients = []
            yield server
            for client in server.clients:
                client.close()


def connect(live, **kwargs) -> Client:
    client = Client(live.url, verbose=False, **kwargs)
    live.clients.append(client)
    return client


def latest_challenge(services) -> str:
    with services.db.read() as db:
        return db.execute("SELECT id FROM challenges WHERE state = 'open' "
                          "ORDER BY created_at DESC LIMIT 1").fetchone()[0]


def client_sign_in(live, username, password):
    """Log in through the API endpoints of the UI, as a program would; returns the client and the
    outputs of the login and of the answer."""
    client = connect(live, download_files=False)
    login = client.predict(username, password, api_name="/login")
    cid = latest_challenge(live.services)
    given = answers(live.services, cid, True)
    slots = [s.slot for s in live.services.db.get_challenge(cid).slots]
    ordered = [given[s] for s in slots] + [None] * (2 - len(slots))
    answered = client.predict(*ordered, api_name="/answer")
    return client, login, answered


def test_a_client_logs_in_through_the_captcha(live):
    _, login, answered = client_sign_in(live, "alice", DEMO_PASSWORD)
    assert "Round 1 / 3" in json.dumps(login)
    assert any("Signed in as alice" in str(v) for v in answered)


def test_the_audio_a_client_gets_is_cached_outside_the_data_dir_under_a_blind_name(live):
    client = connect(live, download_files=False)
    login = client.predict("carol", DEMO_PASSWORD, api_name="/login")
    files = [v for v in login if isinstance(v, dict) and v.get("path")]
    assert len(files) == 2
    temp = os.environ["GRADIO_TEMP_DIR"]
    data = str(live.services.settings.data_dir.resolve())
    for f in files:
        assert f["path"].startswith(temp) and Path(f["path"]).name == "audio.wav"
        assert data not in json.dumps(f)
    sent = json.dumps(login)
    for secret in secrets_of(live.services):
        assert secret not in sent


def test_a_client_not_signed_in_is_refused_by_admin_endpoints(live):
    client = connect(live)
    for name, args in (("/admin_refresh", ("all", "all", "clip")), ("/admin_export", ()),
                       ("/admin_play", (1,))):
        with pytest.raises(AppError, match="administrator role"):
            client.predict(*args, api_name=name)


def test_a_signed_in_volunteer_is_refused_by_admin_endpoints(live):
    client, _, _ = client_sign_in(live, "bob", DEMO_PASSWORD)
    with pytest.raises(AppError, match="administrator role"):
        client.predict("all", "all", "clip", api_name="/admin_refresh")
    client.predict(api_name="/label_skip")  # signed in all the same: a volunteer endpoint works


def test_the_admin_client_gets_the_dashboard_and_the_csv(live):
    client, _, _ = client_sign_in(live, "admin", ADMIN_PASSWORD)
    dashboard = client.predict("all", "all", "clip", api_name="/admin_refresh")
    assert dashboard[0]["play"] == 16
    files = client.predict(api_name="/admin_export")
    assert sorted(Path(f["path"]).name for f in files) == ["insideout-tallies.csv", "insideout-votes.csv"]


def test_the_config_names_no_clip_and_no_data_dir(live):
    with live.client() as http:
        config = http.get("/config").text
    for secret in secrets_of(live.services):
        assert secret not in config


def test_files_of_the_data_dir_are_never_served(live):
    data = live.services.settings.data_dir.resolve()
    audio = live.services.db.clips()[0]
    targets = [data / "insideout.db", data / "accounts.json",
               data / "audio" / audio["pool"] / f"{audio['audio_name']}.wav"]
    with live.client() as http:
        for path in targets:
            assert path.exists()
            r = http.get(f"/gradio_api/file={path}")
            assert r.status_code == 403, path


# -- the web layer only renders ----------------------------------------------------------------


def test_the_page_answer_path_is_rate_limited_per_client(tmp_path):
    services = build_services(make_settings(tmp_path / "data", admin_password=ADMIN_PASSWORD,
                                            request_limit_per_min=2, rate_limit_per_min=5))
    stock(services)
    ui = build_ui(services)
    req = request()
    tab_state = ui.login.start(TabState(), "alice", DEMO_PASSWORD, req)[ui.state]  # request 1
    tab_state = answer(ui, services, tab_state, False, req)[ui.state]  # request 2: a wrong answer, round 2
    out = answer(ui, services, tab_state, True, req)
    assert out[ui.login.feedback] == "Too many attempts. Wait a minute."
    assert ui.state not in out  # the round on the page stays as it is
    assert services.db.get_challenge(tab_state.login.round.challenge_id).round == 2
    other = ui.login.start(TabState(), "bob", DEMO_PASSWORD, request("tab-2", host="203.0.113.1"))
    assert other[ui.state].login is not None  # another client is not held back


def test_no_view_of_the_page_touches_the_database():
    views = Path(__file__).resolve().parents[1] / "insideout" / "web" / "ui"
    for path in views.glob("*.py"):
        source = path.read_text()
        for pattern in (".db.", ".db)", "services.db", "import db", "from ...db import Database", "sqlite"):
            assert pattern not in source, f"{path.name} uses {pattern!r}"
