"""The login flow of the engine (insideout.login): credentials plus a passed captcha, the bot verdict's
cooldown and the one rate-limit policy, on a real stocked library."""

from __future__ import annotations

from dataclasses import replace

import pytest

from insideout import login as flow
from insideout.accounts import DEMO_PASSWORD, Session
from insideout.services import build_services
from tests.conftest import make_settings, stock
from tests.helpers import answers

CLIENT = "198.51.100.7"


def picks(services, step, right: bool) -> list[str]:
    given = answers(services, step.attempt.round.challenge_id, right)
    return [given[slot] for slot in step.attempt.round.slots]


def test_right_credentials_and_a_passed_captcha_sign_in(stocked):
    step = stocked.login.start("Alice", DEMO_PASSWORD, CLIENT, "tab")
    assert step.status == "round" and step.attempt.claimed == "alice"
    done = stocked.login.answer(step.attempt, picks(stocked, step, True), CLIENT, "tab")
    assert done.status == "signed_in" and done.session == Session("alice", "volunteer")


def test_a_wrong_password_is_told_only_after_the_captcha(stocked):
    step = stocked.login.start("alice", "wrong", CLIENT, "tab")
    assert step.status == "round"  # no verdict yet: the guess costs a captcha
    done = stocked.login.answer(step.attempt, picks(stocked, step, True), CLIENT, "tab")
    assert done.status == "refused" and done.reason == flow.BAD_CREDENTIALS


def test_failing_every_round_is_the_bot_verdict_and_its_cooldown(stocked):
    step = stocked.login.start("alice", DEMO_PASSWORD, CLIENT, "tab")
    for _ in range(stocked.settings.max_rounds):
        step = stocked.login.answer(step.attempt, picks(stocked, step, False), CLIENT, "tab")
    assert step.status == "refused" and step.reason == flow.BOT and step.wait_s == 60
    again = stocked.login.start("alice", DEMO_PASSWORD, CLIENT, "another tab")
    assert again.reason == flow.COOLDOWN and 0 < again.wait_s <= 60


def test_a_missing_pick_keeps_the_round(stocked):
    step = stocked.login.start("alice", DEMO_PASSWORD, CLIENT, "tab")
    refused = stocked.login.answer(step.attempt, [picks(stocked, step, True)[0], None], CLIENT, "tab")
    assert refused.reason == flow.PICK_ALL and refused.attempt == step.attempt
    assert stocked.db.get_challenge(step.attempt.round.challenge_id).round == 1


def test_an_answer_without_a_login_in_progress_is_expired(stocked):
    assert stocked.login.answer(None, ["sad", "calm"], CLIENT, "tab").reason == flow.EXPIRED


@pytest.fixture
def tight(tmp_path):
    """Services whose clients may make 3 requests a minute, one of them a new challenge."""
    services = build_services(make_settings(tmp_path / "data", request_limit_per_min=3, rate_limit_per_min=1))
    stock(services)
    return services


def test_new_logins_are_rate_limited_per_client(tight):
    assert tight.login.start("alice", DEMO_PASSWORD, CLIENT, "tab").status == "round"
    refused = tight.login.start("alice", DEMO_PASSWORD, CLIENT, "tab")
    assert refused.reason == flow.RATE_LIMITED and refused.wait_s > 0
    assert tight.login.start("bob", DEMO_PASSWORD, "203.0.113.1", "other").status == "round"


def test_answers_are_rate_limited_like_the_api_and_the_round_stays_answerable(tight):
    step = tight.login.start("alice", DEMO_PASSWORD, CLIENT, "tab")  # request 1 (and the one challenge)
    step = tight.login.answer(step.attempt, picks(tight, step, False), CLIENT, "tab")  # request 2
    step = tight.login.answer(step.attempt, picks(tight, step, False), CLIENT, "tab")  # request 3
    assert step.status == "round"
    refused = tight.login.answer(step.attempt, picks(tight, step, True), CLIENT, "tab")
    assert refused.reason == flow.RATE_LIMITED and refused.attempt == step.attempt
    challenge = tight.db.get_challenge(step.attempt.round.challenge_id)
    assert challenge.round == 3 and challenge.state == "open"  # the refused answer changed nothing


def test_the_api_and_the_login_share_one_limit_per_client(tight):
    tight.rate_limits.request(CLIENT)
    tight.rate_limits.request(CLIENT)
    step = tight.login.start("alice", DEMO_PASSWORD, CLIENT, "tab")
    assert step.status == "round"  # the third request
    refused = tight.login.answer(step.attempt, picks(tight, step, True), CLIENT, "tab")
    assert refused.reason == flow.RATE_LIMITED


def test_the_attempt_held_by_a_view_names_no_label(stocked):
    step = stocked.login.start("alice", DEMO_PASSWORD, CLIENT, "tab")
    held = repr(replace(step.attempt, pending=None))
    for row in stocked.db.clips():
        assert row["audio_name"] not in held
    assert "clip_id" not in held
