"""The login flow of the engine (insideout.login): the widget's pass token redeemed with siteverify and the
built-in site's secret, then the credentials; the bot verdict held by the captcha engine per client, never
per account name; the session token a reload restores; the one rate-limit policy. On a real stocked library."""

from __future__ import annotations

import time

import pytest

from insideout import login as flow
from insideout.accounts import DEMO_PASSWORD, Session, read_session
from insideout.captcha import CoolingDown
from insideout.services import build_services
from insideout.sites import TEST_SITEKEY_PASSES
from tests.conftest import make_settings, stock
from tests.helpers import answers

CLIENT = "198.51.100.7"



def pass_token(services, client: str = CLIENT, action: str | None = "login", site: str = "builtin") -> str:
    """What the widget on the home page puts in the form: a challenge of the built-in site, passed."""
    view = services.captcha.create(client, site=site, action=action)
    result = services.captcha.answer(view.challenge_id, answers(services, view.challenge_id, True), client)
    assert result.status == "passed"
    return result.token


def fail_round(services, challenge_id: str, client: str = CLIENT):
    return services.captcha.answer(challenge_id, answers(services, challenge_id, False), client)


def test_right_credentials_and_a_passed_captcha_sign_in(stocked):
    step = stocked.login.sign_in("Alice", DEMO_PASSWORD, pass_token(stocked), CLIENT)
    assert step.status == "signed_in" and step.session == Session("alice", "volunteer")
    assert read_session(step.session_token, stocked.settings.secret_key).username == "alice"


def test_the_token_is_redeemed_once(stocked):
    token = pass_token(stocked)
    assert stocked.login.sign_in("alice", DEMO_PASSWORD, token, CLIENT).signed_in
    again = stocked.login.sign_in("alice", DEMO_PASSWORD, token, CLIENT)
    assert again.status == "refused" and again.reason == flow.EXPIRED


def test_a_wrong_password_is_told_only_after_a_verified_token(stocked, monkeypatch):
    checked = []
    real = stocked.accounts.authenticate
    monkeypatch.setattr(stocked.accounts, "authenticate", lambda *a: checked.append(a) or real(*a))
    for token in ("", None, "v1.forged.token"):
        step = stocked.login.sign_in("alice", "wrong", token, CLIENT)
        assert step.reason in (flow.CAPTCHA_NEEDED, flow.CAPTCHA_REFUSED)
    assert checked == []  # no token, no verdict on the password: every guess costs a captcha pass
    step = stocked.login.sign_in("alice", "wrong", pass_token(stocked), CLIENT)
    assert step.status == "refused" and step.reason == flow.BAD_CREDENTIALS and step.session_token is None
    nobody = stocked.login.sign_in("nobody", "wrong", pass_token(stocked), CLIENT)
    assert nobody.reason == flow.BAD_CREDENTIALS  # the same answer for a wrong name


def test_a_token_spent_on_a_wrong_password_does_not_sign_in_afterwards(stocked):
    token = pass_token(stocked)
    assert stocked.login.sign_in("alice", "wrong", token, CLIENT).reason == flow.BAD_CREDENTIALS
    assert stocked.login.sign_in("alice", DEMO_PASSWORD, token, CLIENT).reason == flow.EXPIRED


def test_a_token_of_another_site_or_action_does_not_sign_in(stocked):
    site, _ = stocked.sites.add("shop", ["https://shop.example"])
    other_site = pass_token(stocked, site=site.sitekey)
    assert stocked.login.sign_in("alice", DEMO_PASSWORD, other_site, CLIENT).reason == flow.CAPTCHA_REFUSED
    other_action = pass_token(stocked, action="signup")
    assert stocked.login.sign_in("alice", DEMO_PASSWORD, other_action, CLIENT).reason == flow.CAPTCHA_REFUSED
    test_key = pass_token(stocked, site=TEST_SITEKEY_PASSES)
    assert stocked.login.sign_in("alice", DEMO_PASSWORD, test_key, CLIENT).reason == flow.CAPTCHA_REFUSED


def test_an_expired_token_is_refused(stocked):
    token = pass_token(stocked)
    later = stocked.settings.token_ttl_s + 10
    step = stocked.login.sign_in("alice", DEMO_PASSWORD, token, CLIENT, now=time.time() + later)
    assert step.reason == flow.EXPIRED


def test_a_kept_session_is_restored_and_a_logout_ends_it(stocked):
    step = stocked.login.sign_in("bob", DEMO_PASSWORD, pass_token(stocked), CLIENT)
    assert stocked.login.restore(step.session_token) == Session("bob", "volunteer")
    stocked.login.sign_out(step.session_token)
    assert stocked.login.restore(step.session_token) is None
    assert stocked.login.restore("") is None and stocked.login.restore(None) is None


# -- the bot verdict is the captcha engine's, per client -----------------------------------------------------


ADMIN_PASSWORD = "admin-password-for-the-login"


@pytest.fixture
def strict(tmp_path):
    """Services with the bot verdict on (the test settings turn it off)."""
    services = build_services(make_settings(tmp_path / "data", fail_cooldown_s=60, admin_password=ADMIN_PASSWORD))
    stock(services, play=32)
    return services


def fail_challenge(services, client: str) -> None:
    view = services.captcha.create(client, action="login")
    for _ in range(services.settings.max_rounds):
        result = fail_round(services, view.challenge_id, client)
    assert result.status == "failed"


def test_locking_attempts_on_admin_by_another_client_do_not_stop_admins_login(strict):
    attacker = "203.0.113.66"
    for _ in range(2):  # another client fails captchas and posts guesses for `admin`, again and again
        fail_challenge(strict, attacker) if strict.captcha.cooldown_left(attacker) == 0 else None
        for password in ("guess", ADMIN_PASSWORD):
            assert not strict.login.sign_in("admin", password, "", attacker).signed_in
    with pytest.raises(CoolingDown):
        strict.captcha.create(attacker)  # the attacker waits out the verdict...
    step = strict.login.sign_in("admin", ADMIN_PASSWORD, pass_token(strict, CLIENT), CLIENT)
    assert step.signed_in and step.session.is_admin  # ...the admin does not: no account name is ever held


def test_failing_two_rounds_and_abandoning_the_third_does_not_escape_the_cooldown(strict):
    """The failed rounds of an abandoned challenge count: walking away before the last round no longer
    starts the next challenge with a clean slate, but with the one round left, whose failure brings the verdict."""
    view = strict.captcha.create(CLIENT, action="login")
    for _ in range(strict.settings.max_rounds - 1):
        assert fail_round(strict, view.challenge_id).status == "retry"
    # round 3 is never answered: the visitor walks away and asks for a fresh challenge
    fresh = strict.captcha.create(CLIENT, action="login")
    assert fresh.max_rounds == 1
    assert fail_round(strict, fresh.challenge_id).status == "failed"
    with pytest.raises(CoolingDown) as refused:
        strict.captcha.create(CLIENT, action="login")
    assert 0 < refused.value.retry_after <= 60
    with pytest.raises(CoolingDown):
        pass_token(strict, CLIENT)  # no way to a token, hence to a sign-in, until it ends


def test_the_cooldown_holds_the_client_not_a_name(strict):
    fail_challenge(strict, CLIENT)
    with pytest.raises(CoolingDown):
        strict.captcha.create(CLIENT)
    other = "192.0.2.9"
    assert strict.login.sign_in("alice", DEMO_PASSWORD, pass_token(strict, other), other).signed_in


# -- the one rate-limit policy -----------------------------------------------------------------------------


@pytest.fixture
def tight(tmp_path):
    """Services whose clients may make 2 requests a minute."""
    services = build_services(make_settings(tmp_path / "data", request_limit_per_min=2))
    stock(services)
    return services


def test_sign_ins_are_rate_limited_per_client(tight):
    token = pass_token(tight)  # the engine alone: no request counted
    assert tight.login.sign_in("alice", "wrong", "", CLIENT).reason == flow.CAPTCHA_NEEDED
    assert tight.login.sign_in("alice", "wrong", "", CLIENT).reason == flow.CAPTCHA_NEEDED
    refused = tight.login.sign_in("alice", DEMO_PASSWORD, token, CLIENT)
    assert refused.reason == flow.RATE_LIMITED and refused.wait_s > 0
    assert tight.login.sign_in("alice", DEMO_PASSWORD, token, "203.0.113.1").signed_in  # not spent meanwhile


def test_the_api_and_the_login_share_one_limit_per_client(tight):
    tight.rate_limits.request(CLIENT)
    tight.rate_limits.request(CLIENT)
    refused = tight.login.sign_in("alice", DEMO_PASSWORD, pass_token(tight), CLIENT)
    assert refused.reason == flow.RATE_LIMITED
