"""The Gradio views: their handlers called directly on a real stocked library, then the launched app
through gradio_client, as another program would use it."""

import csv
import io
import json
import os
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from starlette.requests import Request

from insideout.accounts import DEMO_PASSWORD, Session, read_session
from insideout.emotions import EMOTION_IDS
from insideout.labeling import LabelingTurn
from insideout.services import build_services
from insideout.web.ui import build_ui
from insideout.web.ui.common import TabState, use_private_temp_dir
from tests.conftest import make_settings, serve, stock
from tests.helpers import answers, read_table

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


def pass_token(services, client: str = "198.51.100.7", action: str = "login") -> str:
    """What the widget puts in the form: a challenge of the built-in site, passed (the answers read from the
    server's database)."""
    view = services.captcha.create(client, site="builtin", action=action)
    result = services.captcha.answer(view.challenge_id, answers(services, view.challenge_id, True), client)
    return result.token


def sign_in(ui, services, username, password, req=None) -> TabState:
    req = req or request()
    return ui.login.sign_in(TabState(), username, password, pass_token(services), req)[ui.state]


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


# -- the login form ----------------------------------------------------------------------------


def test_the_home_page_embeds_the_widget_of_the_builtin_site(ui):
    html = ui.login.captcha.value
    assert 'class="insideout-captcha"' in html and 'data-sitekey="builtin"' in html
    assert 'data-action="login"' in html
    assert "widget.js" in ui.login.captcha.head and "insideout.render" in ui.login.captcha.js_on_load


def test_a_passed_captcha_and_right_credentials_sign_in_and_keep_a_session(ui, stocked):
    out = ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, pass_token(stocked), request())
    assert out[ui.state].user == Session("alice", "volunteer")
    assert shown(out[ui.login.signed_col]) and not shown(out[ui.login.login_col])
    assert "Signed in as alice" in out[ui.login.welcome]
    assert not shown(out[ui.login.admin_tab])
    assert read_session(out[ui.login.kept], stocked.settings.secret_key).username == "alice"
    assert out[ui.login.token] == "" and out[ui.login.password] == ""


def test_the_pass_token_is_redeemed_by_the_login(ui, stocked):
    ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, pass_token(stocked), request())
    with stocked.db.read() as db:
        assert db.execute("SELECT count(*) FROM tokens WHERE used_at IS NULL").fetchone()[0] == 0


def test_without_a_pass_the_login_asks_for_the_captcha_and_keeps_the_password(ui, stocked):
    out = ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, "", request())
    assert "Pass the captcha first" in out[ui.login.login_msg]
    assert out[ui.state].user is None and shown(out[ui.login.login_col])
    assert out[ui.login.password] == gr.skip() and out[ui.login.kept] == gr.skip()


def test_a_wrong_password_is_told_only_after_a_passed_captcha(ui, stocked):
    token = pass_token(stocked)
    out = ui.login.sign_in(TabState(), "alice", "not-the-password", token, request())
    assert out[ui.login.login_msg] == "Captcha passed, but the user name or password is wrong."
    assert out[ui.state].user is None and not shown(out[ui.login.signed_col])
    assert out[ui.login.password] == ""  # the pass is spent: the next guess needs another
    again = ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, token, request())
    assert "expired or was already used" in again[ui.login.login_msg]


def test_a_forged_token_does_not_sign_in(ui, stocked):
    out = ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, "v1.e30.forged", request())
    assert "did not verify" in out[ui.login.login_msg] and out[ui.state].user is None


def test_what_the_login_sends_to_the_page_names_no_clip(ui, stocked):
    out = ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, pass_token(stocked), request())
    sent = page_values(ui, out)
    for secret in secrets_of(stocked):
        assert secret not in sent
    for emotion_id in EMOTION_IDS:
        assert f"'{emotion_id}'" not in sent and f'"{emotion_id}"' not in sent


def test_a_second_submit_after_the_sign_in_keeps_the_person_signed_in(ui, stocked):
    tab_state = sign_in(ui, stocked, "alice", DEMO_PASSWORD)
    out = ui.login.sign_in(tab_state, "bob", "whatever", "", request())
    assert out[ui.state].user == tab_state.user and shown(out[ui.login.signed_col])


def test_a_reload_restores_the_kept_session(ui, stocked):
    kept = ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, pass_token(stocked), request())[ui.login.kept]
    out = ui.login.restore(TabState(), kept)  # a new page: a fresh tab state, the browser's kept token
    assert out[ui.state].user == Session("alice", "volunteer") and shown(out[ui.login.signed_col])
    assert "Signed in as alice" in out[ui.login.welcome]


def test_a_reload_with_a_bad_kept_token_shows_the_login_and_forgets_the_token(ui, stocked):
    kept = ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, pass_token(stocked), request())[ui.login.kept]
    for bad in (kept.replace("alice", "admin"), kept[:-2], "garbage"):
        out = ui.login.restore(TabState(), bad)
        assert out[ui.state].user is None and shown(out[ui.login.login_col]) and out[ui.login.kept] == ""
    nothing = ui.login.restore(TabState(), "")
    assert nothing[ui.state].user is None and nothing[ui.login.kept] == gr.skip()


def test_logging_out_forgets_the_user_and_ends_the_kept_session(ui, stocked):
    out = ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, pass_token(stocked), request())
    later = ui.login.logout(out[ui.state], out[ui.login.kept])
    assert later[ui.state].user is None and shown(later[ui.login.login_col]) and later[ui.login.kept] == ""
    assert ui.login.restore(TabState(), out[ui.login.kept])[ui.state].user is None  # a copy restores nothing


def test_sign_ins_through_the_page_are_rate_limited_per_client(tmp_path):
    services = build_services(make_settings(tmp_path / "data", admin_password=ADMIN_PASSWORD,
                                            request_limit_per_min=1))
    stock(services)
    ui = build_ui(services)
    assert "Pass the captcha first" in ui.login.sign_in(TabState(), "alice", "x", "", request())[ui.login.login_msg]
    out = ui.login.sign_in(TabState(), "alice", DEMO_PASSWORD, pass_token(services), request())
    assert out[ui.login.login_msg] == "Too many attempts. Wait a minute." and out[ui.state].user is None
    other = ui.login.sign_in(TabState(), "bob", DEMO_PASSWORD, pass_token(services),
                             request("tab-2", host="203.0.113.1"))
    assert other[ui.state].user is not None  # another client is not held back


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
            lambda: admin.generation_status(tab_state), lambda: admin.sites_panel(tab_state),
            lambda: admin.add_site(tab_state, "shop", "https://shop.example", True),
            lambda: admin.rotate_site(tab_state, "shop"), lambda: admin.ask_remove_site(tab_state, "shop"),
            lambda: admin.remove_site(tab_state, "shop"), lambda: admin.cancel_remove_site(tab_state)]


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
    out = ui.login.sign_in(TabState(), "admin", ADMIN_PASSWORD, pass_token(stocked), request())
    assert out[ui.state].user.is_admin and shown(out[ui.login.admin_tab])


def test_the_dashboard_shows_the_summary_tallies_agreement_plots_and_policy(ui, stocked):
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    (summary, table, queue, agreement, voters, overruled, confusion, passes, by_emotion, by_round,
     over_time) = ui.admin.refresh(tab_state, "all", "all", "clip")
    assert "play **16**, unverified **4**, learning **0**, retired **0**" in summary
    assert "33.0%" in summary  # 1 - (7/8)^3 for one of three rounds
    table, queue, voters, overruled = map(read_table, (table, queue, voters, overruled))
    assert list(table.frame["clip"].astype(int)) == stocked.clip_ids["unverified"]
    assert sorted(queue.frame["votes to consensus"].astype(int)) == [9, 10, 10, 10]  # the admin's login voted once
    assert "Fleiss' kappa: not computed" in agreement and "Krippendorff's alpha: not computed" in agreement
    assert voters.frame.empty and overruled.frame.empty and table.caption == "Tallies"
    assert "No rows." in ui.admin.refresh(tab_state, "all", "all", "clip")[4]
    assert "1 passed" in passes  # the admin's own login
    bars = json.loads(by_emotion.plot)["data"]["values"]
    assert [b["rate"] for b in bars if b["n"]] == [100.0] and sum(b["label"] == "no data" for b in bars) == 7
    assert [b["rate"] for b in json.loads(by_round.plot)["data"]["values"]] == [100.0]
    assert len(json.loads(over_time.plot)["data"]["values"]) == 2  # round 1, and all rounds
    assert json.loads(confusion.plot)["title"]["text"] == "Intended emotion vs crowd label"


# -- sites in the dashboard ---------------------------------------------------------------------


def test_the_sites_panel_lists_the_builtin_site(ui, stocked):
    admin = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    out = ui.admin.sites_panel(admin)
    table = out[ui.admin.sites_table]
    assert list(table.columns) == ["name", "site key", "origins", "no-audio route", "pass policy", "created (UTC)",
                                   "secret rotated (UTC)"]
    assert list(table["site key"]) == ["builtin"] and table["origins"][0] == "this app's own pages"
    assert out[ui.admin.site_choice]["choices"] == []  # the built-in site is neither rotated nor removed here
    assert not shown(out[ui.admin.site_secret])


def test_adding_a_site_shows_its_secret_once_and_the_secret_verifies(ui, stocked):
    admin = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    out = ui.admin.add_site(admin, " Shop ", "https://shop.example\n\n  https://www.shop.example:8443/ \n", False,
                            "2/3")
    site = stocked.sites.get("Shop")
    assert site.origins == ("https://shop.example", "https://www.shop.example:8443") and not site.alternative
    assert site.policy == (2, 3)
    secret = out[ui.admin.site_secret]
    assert shown(secret) and stocked.sites.by_secret(secret["value"]) == site
    assert "shown once" in out[ui.admin.sites_message] and site.sitekey in out[ui.admin.sites_message]
    assert out[ui.admin.site_name] == "" and out[ui.admin.site_origins] == ""
    table = out[ui.admin.sites_table]
    row = table[table["site key"] == site.sitekey].iloc[0]
    assert row["origins"] == "https://shop.example, https://www.shop.example:8443"
    assert row["no-audio route"] == "off" and row["pass policy"] == "2/3"
    builtin = table[table["site key"] == "builtin"].iloc[0]
    assert builtin["pass policy"] == "the app's (1/3)"
    assert out[ui.admin.site_choice]["value"] == site.sitekey
    later = ui.admin.sites_panel(admin)  # any later view: the secret is gone from the page
    assert not shown(later[ui.admin.site_secret]) and later[ui.admin.site_secret]["value"] == ""
    assert secret["value"] not in page_values(ui, later)


@pytest.mark.parametrize("name, origins, policy, words", [
    ("", "https://shop.example", "", "name"), ("shop", "", "", "at least one origin"),
    ("shop", "shop.example", "", "not an origin"), ("shop", "https://shop.example/login", "", "no path"),
    ("shop", "https://shop.example", "4/3", "not a policy"), ("shop", "https://shop.example", "two", "not a policy"),
])
def test_a_bad_site_is_refused_plainly(ui, stocked, name, origins, policy, words):
    admin = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    out = ui.admin.add_site(admin, name, origins, True, policy)
    assert out[ui.admin.sites_message].startswith("**Refused:**") and words in out[ui.admin.sites_message]
    assert not shown(out[ui.admin.site_secret]) and len(stocked.sites.all()) == 1


def test_a_second_site_of_the_same_name_is_refused(ui, stocked):
    admin = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    ui.admin.add_site(admin, "shop", "https://shop.example", True)
    assert "exists already" in ui.admin.add_site(admin, "shop", "https://b.example", True)[ui.admin.sites_message]


def test_rotating_a_secret_shows_the_new_one_and_the_old_one_stops(ui, stocked):
    admin = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    first = ui.admin.add_site(admin, "shop", "https://shop.example", True)[ui.admin.site_secret]["value"]
    key = stocked.sites.get("shop").sitekey
    out = ui.admin.rotate_site(admin, key)
    second = out[ui.admin.site_secret]["value"]
    assert second != first and stocked.sites.by_secret(first) is None
    assert stocked.sites.by_secret(second).sitekey == key and "shown once" in out[ui.admin.sites_message]
    for missing in (None, "", "io_sk_nothing"):
        refused = ui.admin.rotate_site(admin, missing)
        assert refused[ui.admin.sites_message].startswith("**Refused:**") and not shown(refused[ui.admin.site_secret])


def test_removing_a_site_asks_first_and_cancel_keeps_it(ui, stocked):
    admin = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    ui.admin.add_site(admin, "shop", "https://shop.example", True)
    key = stocked.sites.get("shop").sitekey
    asked = ui.admin.ask_remove_site(admin, key)
    assert shown(asked[ui.admin.site_confirm_row]) and "Remove shop" in asked[ui.admin.site_confirm_md]
    assert stocked.sites.get(key) is not None  # asking removes nothing
    assert not shown(ui.admin.cancel_remove_site(admin)[ui.admin.site_confirm_row])
    out = ui.admin.remove_site(admin, key)
    assert stocked.sites.get(key) is None and "Removed **shop**" in out[ui.admin.sites_message]
    assert not shown(out[ui.admin.site_confirm_row]) and key not in list(out[ui.admin.sites_table]["site key"])
    assert "Refused" in ui.admin.remove_site(admin, key)[ui.admin.sites_message]  # gone already
    assert "Refused" in ui.admin.remove_site(admin, "builtin")[ui.admin.sites_message]
    assert stocked.sites.get("builtin") is not None


def test_the_sites_panel_speaks_korean(ui, stocked):
    admin = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    out = ui.set_lang(admin, "ko")
    assert list(out[ui.admin.sites_table].columns)[:2] == ["이름", "사이트 키"]
    assert out[ui.admin.site_add_btn]["value"] == "사이트 추가"
    added = ui.admin.add_site(out[ui.state], "shop", "https://shop.example", True)
    assert "지금 복사하세요" in added[ui.admin.sites_message]
    refused = ui.admin.add_site(out[ui.state], "", "https://shop.example", True)
    assert refused[ui.admin.sites_message].startswith("**거부됨:**")


def test_the_language_switch_leaves_the_sites_alone_for_anyone_but_the_admin(ui, stocked):
    out = ui.set_lang(sign_in(ui, stocked, "alice", DEMO_PASSWORD), "ko")
    assert out[ui.admin.sites_table] == gr.skip()


def test_the_admin_starts_a_generation_and_sees_it_finish(ui, stocked, tmp_path):
    from dataclasses import replace

    from tests import tts_fixtures

    model = str(tts_fixtures.write_insideout(tmp_path / "m.pt"))
    stocked.generation.settings = replace(stocked.generation.settings, tts_checkpoint=model)
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    assert ui.admin.generation_status(tab_state)[0] == "No generation yet."
    text, share, timer = ui.admin.generate(tab_state, 3, ["sad", "calm"])
    assert "Generation job" in text and "3 clips" in text  # the total is known from the start, never "?"
    stocked.jobs.wait(stocked.db.latest_job("generate")["id"], timeout=120)
    text, share, timer = ui.admin.generation_status(tab_state)
    assert text.endswith("**done**. 3 / 3 clips: 3 made, 0 failed.") and share == 100


def test_a_bad_generation_request_is_refused_with_one_message_in_the_pages_language(ui, stocked):
    from dataclasses import replace

    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    assert ui.admin.generate(tab_state, 0, ["sad"]) == [
        "**Generation not started:** the number of clips must be from 1 to 1000.", gr.skip(), gr.skip()]
    assert ui.admin.generate(tab_state, 3, []) == [
        "**Generation not started:** choose at least one emotion.", gr.skip(), gr.skip()]
    korean = ui.admin.generate(replace(tab_state, lang="ko"), 3, ["bored"])
    assert korean == ["**생성을 시작하지 않았습니다:** bored이라는 감정은 없습니다.", gr.skip(), gr.skip()]
    assert stocked.db.latest_job("generate") is None


def test_the_tally_filter_keeps_one_pool(ui, stocked):
    tab_state = sign_in(ui, stocked, "admin", ADMIN_PASSWORD)
    assert read_table(ui.admin.tally(tab_state, "learning", "all", "clip")).frame.empty
    assert len(read_table(ui.admin.tally(tab_state, "unverified", "open", "votes")).frame) == 4


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
    assert out[ui.labeling.choice]["choices"][0] == ("중립 · Neutral", "neutral")
    assert out[ui.labeling.choice]["label"] == "라벨을 붙일 음성은 어떤 감정을 표현하나요?"
    later = ui.login.logout(out[ui.state], "")
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


def client_sign_in(live, username, password):
    """Log in through the API endpoint of the UI, as a program would, with a pass token of the built-in
    site; returns the client and the outputs of the login."""
    client = connect(live, download_files=False)
    login = client.predict(username, password, pass_token(live.services), api_name="/login")
    return client, login


def test_a_client_logs_in_with_a_pass_token(live):
    _, login = client_sign_in(live, "alice", DEMO_PASSWORD)
    assert any("Signed in as alice" in str(v) for v in login)


def test_a_client_without_a_pass_token_is_not_signed_in(live):
    client = connect(live, download_files=False)
    login = client.predict("alice", DEMO_PASSWORD, "", api_name="/login")
    assert "Pass the captcha first" in json.dumps(login)
    with pytest.raises(AppError, match="Sign in first"):
        client.predict(api_name="/label_skip")


def test_the_audio_a_client_gets_is_cached_outside_the_data_dir_under_a_blind_name(live):
    client, _ = client_sign_in(live, "carol", DEMO_PASSWORD)
    shown = client.predict(api_name="/label_skip")
    files = [v for v in shown if isinstance(v, dict) and v.get("path")]
    assert len(files) == 1
    temp = os.environ["GRADIO_TEMP_DIR"]
    data = str(live.services.settings.data_dir.resolve())
    for f in files:
        assert f["path"].startswith(temp) and Path(f["path"]).name == "audio.wav"
        assert data not in json.dumps(f)
    sent = json.dumps(shown)
    for secret in secrets_of(live.services):
        assert secret not in sent


def test_a_client_not_signed_in_is_refused_by_admin_endpoints(live):
    client = connect(live)
    for name, args in (("/admin_refresh", ("all", "all", "clip")), ("/admin_export", ()),
                       ("/admin_play", (1,))):
        with pytest.raises(AppError, match="administrator role"):
            client.predict(*args, api_name=name)


def test_a_signed_in_volunteer_is_refused_by_admin_endpoints(live):
    client, _ = client_sign_in(live, "bob", DEMO_PASSWORD)
    with pytest.raises(AppError, match="administrator role"):
        client.predict("all", "all", "clip", api_name="/admin_refresh")
    with pytest.raises(AppError, match="administrator role"):
        client.predict("shop", "https://shop.example", True, "", api_name="/admin_add_site")
    client.predict(api_name="/label_skip")  # signed in all the same: a volunteer endpoint works


def test_the_admin_client_gets_the_dashboard_and_the_csv(live):
    client, _ = client_sign_in(live, "admin", ADMIN_PASSWORD)
    dashboard = client.predict("all", "all", "clip", "counts", api_name="/admin_refresh")
    assert "play **16**" in dashboard[0]
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


def test_no_view_of_the_page_touches_the_database():
    views = Path(__file__).resolve().parents[1] / "insideout" / "web" / "ui"
    for path in views.glob("*.py"):
        source = path.read_text()
        for pattern in (".db.", ".db)", "services.db", "import db", "from ...db import Database", "sqlite"):
            assert pattern not in source, f"{path.name} uses {pattern!r}"
