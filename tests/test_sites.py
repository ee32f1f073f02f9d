"""Sites, CORS and siteverify through a real server on loopback: a token verifies once, only with its own
site's secret; CORS answers a site's registered origins and no others; a refused origin creates nothing;
test keys; the proof-of-work route for people who cannot hear; the bot verdict's cooldown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from ipaddress import ip_network

import pytest

from insideout import pow as proof
from insideout.sites import (
    TEST_SECRET_FAILS,
    TEST_SECRET_PASSES,
    TEST_SECRET_SPENT,
    TEST_SITEKEY_FAILS,
    TEST_SITEKEY_PASSES,
    SiteError,
    normalize_origin,
)
from tests.conftest import SECRET, serve
from tests.helpers import answers, stored_rows

SHOP = "https://shop.example"
OTHER = "https://evil.example"



@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("sites"), play=24, alt_pow_difficulty=4) as server:
        server.shop, server.shop_secret = server.services.sites.add("shop", [SHOP, "http://localhost:8000"])
        server.blog, server.blog_secret = server.services.sites.add("blog", ["https://blog.example"],
                                                                    alternative=False)
        yield server


@pytest.fixture
def http(live):
    with live.client() as client:
        yield client


def challenge(http, sitekey: str | None, origin: str | None = SHOP, **extra):
    headers = {"Origin": origin} if origin else {}
    body = {"sitekey": sitekey, **extra} if sitekey else {}
    return http.post("/api/v1/challenges", json=body, headers=headers)


def passed_token(live, http, sitekey: str, origin: str | None = SHOP, **extra) -> str:
    r = challenge(http, sitekey, origin, **extra)
    assert r.status_code == 201, r.text
    cid = r.json()["challenge_id"]
    r = http.post(f"/api/v1/challenges/{cid}/answer", json={"answers": answers(live.services, cid, True)},
                  headers={"Origin": origin} if origin else {})
    assert r.json()["status"] == "passed"
    return r.json()["token"]


def verify(http, secret, response, **extra) -> dict:
    r = http.post("/api/v1/siteverify", json={"secret": secret, "response": response, **extra})
    assert r.status_code == 200
    return r.json()


def challenge_count(live) -> int:
    return len(stored_rows(live.services.db, "challenges"))


# -- the registry ------------------------------------------------------------------------------


def test_origins_are_normalized_as_browsers_send_them():
    assert normalize_origin("HTTPS://Shop.Example:443/") == "https://shop.example"
    assert normalize_origin("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    for bad in ("shop.example", "ftp://shop.example", "https://shop.example/login", "https://*.example",
                "https://user@shop.example", "https://shop.example:99999"):
        with pytest.raises(SiteError):
            normalize_origin(bad)


def test_a_secret_is_shown_once_and_kept_only_as_its_hash(live):
    stored = json.dumps(stored_rows(live.services.db, "sites"), default=str)
    assert live.shop_secret not in stored and live.services.sites.builtin_secret() not in stored


def test_a_sites_own_pass_policy_shapes_its_challenges(live, http):
    site, _ = live.services.sites.add("strict", [SHOP], policy="2/3")
    assert site.policy == (2, 3) and live.services.sites.get("strict").policy_text == "2/3"
    c = challenge(http, site.sitekey).json()
    stored = live.services.db.get_challenge(c["challenge_id"])
    assert (stored.rounds_to_pass, stored.max_rounds, c["max_rounds"]) == (2, 3, 3)
    first = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer",
                      json={"answers": answers(live.services, c["challenge_id"], True)}).json()
    assert first["status"] == "retry"  # one right round of the two it needs
    for bad in ("4/3", "0/3", "1/6", "two"):
        with pytest.raises(SiteError, match="not a policy"):
            live.services.sites.add(f"bad {bad}", [SHOP], policy=bad)


def test_names_are_unique_and_sites_need_an_origin(live):
    with pytest.raises(SiteError):
        live.services.sites.add("shop", ["https://x.example"])
    with pytest.raises(SiteError):
        live.services.sites.add("empty", [])


def test_the_built_in_site_cannot_be_removed_or_rotated(live):
    with pytest.raises(SiteError):
        live.services.sites.remove("builtin")
    with pytest.raises(SiteError):
        live.services.sites.rotate_secret("builtin")


def test_the_command_line_adds_lists_rotates_and_removes_sites(tmp_path):
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(tmp_path / "data"), "INSIDEOUT_SECRET_KEY": SECRET}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "insideout", "sites", *args], env=env, capture_output=True,
                              text=True, timeout=120)

    added = cli("add", "Shop", "--origin", SHOP, "--origin", "http://localhost:8000", "--policy", "2/3")
    assert added.returncode == 0, added.stderr
    keys = json.loads(added.stdout)
    assert added.stdout.count("\n") == 1 and set(keys) == {"sitekey", "secret"}
    listed = [json.loads(line) for line in cli("list").stdout.splitlines()]
    assert [s["name"] for s in listed] == ["InsideOut app", "Shop"]
    assert listed[1]["origins"] == [SHOP, "http://localhost:8000"] and keys["secret"] not in cli("list").stdout
    assert listed[1]["policy"] == "2/3" and listed[0]["policy"] is None
    rotated = json.loads(cli("rotate-secret", "Shop").stdout)
    assert rotated["sitekey"] == keys["sitekey"] and rotated["secret"] != keys["secret"]
    bad = cli("add", "Other", "--origin", "https://x.example/path")
    assert bad.returncode == 2 and "not an origin" in bad.stderr
    assert cli("remove", keys["sitekey"]).returncode == 0
    assert cli("remove", "Shop").returncode == 1


# -- CORS --------------------------------------------------------------------------------------


def test_a_preflight_from_a_registered_origin_is_answered_for_that_origin(live, http):
    r = http.options(f"/api/v1/challenges?sitekey={live.shop.sitekey}",
                     headers={"Origin": SHOP, "Access-Control-Request-Method": "POST",
                              "Access-Control-Request-Headers": "content-type"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "content-type" in r.headers["access-control-allow-headers"].lower()


@pytest.mark.parametrize("origin", [OTHER, "https://blog.example", "null"])
def test_a_preflight_from_another_origin_gets_no_cors_headers(live, http, origin):
    r = http.options(f"/api/v1/challenges?sitekey={live.shop.sitekey}",
                     headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 403
    assert not any(k.lower().startswith("access-control-") for k in r.headers)


def test_real_replies_carry_the_sites_origin_on_every_captcha_route(live, http):
    r = challenge(http, live.shop.sitekey)
    assert r.status_code == 201 and r.headers["access-control-allow-origin"] == SHOP
    assert r.headers["access-control-expose-headers"] == "Retry-After"  # a widget's countdown reads it
    c = r.json()
    audio = http.get(c["clips"][0]["audio_url"], headers={"Origin": SHOP})
    assert audio.headers["access-control-allow-origin"] == SHOP
    r = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer", json={"answers": {"x": "sad"}},
                  headers={"Origin": SHOP})
    assert r.status_code == 422 and r.headers["access-control-allow-origin"] == SHOP  # refusals reach the page
    r = http.options(f"/api/v1/challenges/{c['challenge_id']}/answer",
                     headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"})
    assert r.headers["access-control-allow-origin"] == SHOP


def test_a_refused_origin_creates_nothing_and_spends_no_rate_limit(live, http):
    before, spent = challenge_count(live), live.services.rate_limits.recent_challenges("127.0.0.1")
    for origin in (OTHER, "https://blog.example"):
        r = challenge(http, live.shop.sitekey, origin)
        assert r.status_code == 403 and r.json()["error"] == "origin_not_allowed"
        assert not any(k.lower().startswith("access-control-") for k in r.headers)
    assert challenge_count(live) == before
    assert live.services.rate_limits.recent_challenges("127.0.0.1") == spent


def test_another_sites_page_cannot_answer_or_hear_a_challenge(live, http):
    c = challenge(http, live.shop.sitekey).json()
    r = http.get(c["clips"][0]["audio_url"], headers={"Origin": OTHER})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer",
                  json={"answers": answers(live.services, c["challenge_id"], True)}, headers={"Origin": OTHER})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    assert live.services.db.get_challenge(c["challenge_id"]).round == 1  # unanswered


def test_an_unknown_sitekey_is_refused(http):
    r = challenge(http, "io_sk_nope")
    assert r.status_code == 400 and r.json()["error"] == "invalid_sitekey"


def test_siteverify_and_admin_never_answer_cors(live, http):
    for method, path in (("POST", "/api/v1/siteverify"), ("GET", "/api/v1/admin/tallies")):
        r = http.options(path, headers={"Origin": SHOP, "Access-Control-Request-Method": method})
        assert "access-control-allow-origin" not in r.headers
    r = http.post("/api/v1/siteverify", json={"secret": "x", "response": "y"}, headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in r.headers


def test_the_apps_own_pages_use_the_built_in_site_same_origin_only(live, http):
    own = live.url
    r = http.post("/api/v1/challenges", json={}, headers={"Origin": own})
    assert r.status_code == 201
    r = http.post("/api/v1/challenges", json={}, headers={"Origin": SHOP})
    assert r.status_code == 403


# -- siteverify --------------------------------------------------------------------------------


def test_a_token_verifies_once_with_its_sites_secret_and_names_the_page(live, http):
    token = passed_token(live, http, live.shop.sitekey, action="login")
    verdict = verify(http, live.shop_secret, token, remoteip="203.0.113.9")
    assert verdict["success"] is True and verdict["error_codes"] == []
    assert verdict["hostname"] == "shop.example" and verdict["sitekey"] == live.shop.sitekey
    assert verdict["action"] == "login" and verdict["method"] == "audio" and verdict["challenge_ts"].endswith("Z")
    again = verify(http, live.shop_secret, token)
    assert again["success"] is False and again["error_codes"] == ["timeout-or-duplicate"]


def test_a_token_from_one_site_does_not_verify_on_another_and_is_not_spent(live, http):
    token = passed_token(live, http, live.shop.sitekey)
    assert verify(http, live.blog_secret, token)["error_codes"] == ["invalid-input-response"]
    assert verify(http, live.services.sites.builtin_secret(), token)["error_codes"] == ["invalid-input-response"]
    assert verify(http, live.shop_secret, token)["success"] is True


@pytest.mark.parametrize("body, code", [
    ({"response": "v1.a.b"}, "missing-input-secret"),
    ({"secret": "", "response": "v1.a.b"}, "missing-input-secret"),
    ({"secret": "io_secret_nope", "response": "v1.a.b"}, "invalid-input-secret"),
    ({"secret": "SHOP", "response": ""}, "missing-input-response"),
    ({"secret": "SHOP"}, "missing-input-response"),
    ({"secret": "SHOP", "response": "v1.a.b"}, "invalid-input-response"),
    ({"secret": "SHOP", "response": 5}, "missing-input-response"),
    ({"secret": "SHOP", "response": "a", "token": "b"}, "bad-request"),
    ({"secret": "SHOP", "response": "a", "idempotency_key": "no spaces"}, "bad-request"),
])
def test_every_siteverify_error_code(live, http, body, code):
    body = {k: (live.shop_secret if v == "SHOP" else v) for k, v in body.items()}
    r = http.post("/api/v1/siteverify", json=body)
    assert r.status_code == 200 and r.json() == {"success": False, "error_codes": [code], "challenge_ts": None,
                                                 "hostname": None, "sitekey": None, "action": None, "method": None}


def test_an_expired_token_is_timeout_or_duplicate(live, http):
    token = passed_token(live, http, live.shop.sitekey)
    verdict = live.services.verifier.siteverify(live.shop_secret, token,
                                                now=live.services.captcha.read_token(token).expires_at + 1)
    assert verdict.error_codes == ("timeout-or-duplicate",)


def test_siteverify_takes_a_form_as_turnstile_does(live, http):
    token = passed_token(live, http, live.shop.sitekey)
    r = http.post("/api/v1/siteverify", data={"secret": live.shop_secret, "response": token})
    assert r.json()["success"] is True


def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer(live, http):
    token = passed_token(live, http, live.shop.sitekey)
    first = verify(http, live.shop_secret, token, idempotency_key="3b2c-retry-1")
    assert first["success"] is True
    assert verify(http, live.shop_secret, token, idempotency_key="3b2c-retry-1") == first
    assert verify(http, live.shop_secret, token, idempotency_key="3b2c-retry-2")["error_codes"] == \
        ["timeout-or-duplicate"]
    other = passed_token(live, http, live.shop.sitekey)
    assert verify(http, live.shop_secret, other, idempotency_key="3b2c-retry-1")["error_codes"] == ["bad-request"]


def test_a_rotated_secret_stops_at_once_and_the_new_one_works(tmp_path):
    with serve(tmp_path, play=8) as live, live.client() as http:
        site, old = live.services.sites.add("rotating", [SHOP])
        token = passed_token(live, http, site.sitekey)
        new = live.services.sites.rotate_secret(site.sitekey)
        assert verify(http, old, token)["error_codes"] == ["invalid-input-secret"]
        assert verify(http, new, token)["success"] is True


def test_a_removed_sites_tokens_stop_verifying(tmp_path):
    with serve(tmp_path, play=8) as live, live.client() as http:
        site, secret = live.services.sites.add("gone", [SHOP])
        token = passed_token(live, http, site.sitekey)
        assert live.services.sites.remove("gone")
        assert verify(http, secret, token)["error_codes"] == ["invalid-input-secret"]
        assert challenge(http, site.sitekey).json()["error"] == "invalid_sitekey"


# -- test keys ---------------------------------------------------------------------------------


def test_the_passing_test_key_passes_any_answer_from_any_origin(http):
    r = challenge(http, TEST_SITEKEY_PASSES, "http://localhost:3000")
    assert r.status_code == 201 and r.headers["access-control-allow-origin"] == "http://localhost:3000"
    c = r.json()
    audio = http.get(c["clips"][1]["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    result = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer",
                       json={"answers": {s["slot"]: "sad" for s in c["clips"]}}).json()
    assert result["status"] == "passed"
    assert verify(http, TEST_SECRET_PASSES, result["token"])["success"] is True


def test_test_tokens_verify_with_test_secrets_only(live, http):
    c = challenge(http, TEST_SITEKEY_PASSES).json()
    token = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer",
                      json={"answers": {s["slot"]: "calm" for s in c["clips"]}}).json()["token"]
    assert verify(http, live.shop_secret, token)["error_codes"] == ["invalid-input-response"]
    real = passed_token(live, http, live.shop.sitekey)
    assert verify(http, TEST_SECRET_FAILS, real)["error_codes"] == ["invalid-input-response"]
    assert verify(http, TEST_SECRET_SPENT, real)["error_codes"] == ["timeout-or-duplicate"]
    assert verify(http, live.shop_secret, real)["success"] is True  # the test secrets spent nothing


def test_the_failing_test_key_fails_every_answer(http):
    c = challenge(http, TEST_SITEKEY_FAILS, OTHER).json()
    result = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer",
                       json={"answers": {s["slot"]: "happy" for s in c["clips"]}}).json()
    assert result == {"status": "failed", "round": 1}


# -- the route for people who cannot hear ------------------------------------------------------


def solved(http, sitekey: str, origin: str = SHOP) -> dict:
    r = http.get(f"/api/v1/pow?for=alternative&sitekey={sitekey}", headers={"Origin": origin})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == origin
    puzzle = r.json()
    assert puzzle["difficulty"] == 4
    return proof.solve(proof.Puzzle(**puzzle)).as_dict()


def test_proof_of_work_passes_and_siteverify_says_so(live, http):
    body = {"sitekey": live.shop.sitekey, "action": "signup", "pow": solved(http, live.shop.sitekey)}
    r = http.post(f"/api/v1/alternative?sitekey={live.shop.sitekey}", json=body, headers={"Origin": SHOP})
    assert r.status_code == 200 and r.json()["status"] == "passed" and r.json()["method"] == "pow"
    assert r.headers["access-control-allow-origin"] == SHOP
    verdict = verify(http, live.shop_secret, r.json()["token"])
    assert verdict["success"] is True and verdict["method"] == "pow" and verdict["action"] == "signup"
    again = http.post("/api/v1/alternative", json=body, headers={"Origin": SHOP})
    assert again.status_code == 403 and again.json()["error"] == "pow_reused"


def test_an_easier_puzzle_does_not_open_the_route(live, http):
    puzzle = proof.issue(SECRET, 2)
    body = {"sitekey": live.shop.sitekey, "pow": proof.solve(puzzle).as_dict()}
    r = http.post("/api/v1/alternative", json=body, headers={"Origin": SHOP})
    assert r.status_code == 403 and r.json()["error"] == "pow_too_easy"


def test_a_site_may_turn_the_route_off(live, http):
    body = {"sitekey": live.blog.sitekey, "pow": solved(http, live.blog.sitekey, "https://blog.example")}
    r = http.post("/api/v1/alternative", json=body, headers={"Origin": "https://blog.example"})
    assert r.status_code == 403 and r.json()["error"] == "alternative_off"


# -- the bot verdict ---------------------------------------------------------------------------


def play_wrong(http, live, cid: str) -> dict:
    return http.post(f"/api/v1/challenges/{cid}/answer",
                     json={"answers": answers(live.services, cid, False)}).json()


def test_abandoning_the_last_round_does_not_escape_the_cooldown(tmp_path):
    with serve(tmp_path, play=24, fail_cooldown_s=60, trusted_proxies=(ip_network("127.0.0.1/32"),)) as live, \
            live.client() as http:
        http.headers["X-Forwarded-For"] = "198.51.100.7"
        c = http.post("/api/v1/challenges", json={}).json()
        assert play_wrong(http, live, c["challenge_id"])["status"] == "retry"
        assert play_wrong(http, live, c["challenge_id"])["status"] == "retry"
        # walk away from round 3 and start over: the two failed rounds still count, so one round is left
        c = http.post("/api/v1/challenges", json={}).json()
        assert c["max_rounds"] == 1
        assert play_wrong(http, live, c["challenge_id"])["status"] == "failed"
        r = http.post("/api/v1/challenges", json={})
        assert r.status_code == 429 and r.json()["error"] == "cooldown"
        assert "retry-after" in r.headers
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # the verdict is this client's alone
        other = http.post("/api/v1/challenges", json={}, headers={"X-Forwarded-For": "198.51.100.8"})
        assert other.status_code == 201


def test_a_pass_clears_the_strikes_before_it(tmp_path):
    with serve(tmp_path, play=24, fail_cooldown_s=60) as live, live.client() as http:
        c = http.post("/api/v1/challenges", json={}).json()
        play_wrong(http, live, c["challenge_id"])
        play_wrong(http, live, c["challenge_id"])
        r = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer",
                      json={"answers": answers(live.services, c["challenge_id"], True)})
        assert r.json()["status"] == "passed"
        c = http.post("/api/v1/challenges", json={}).json()
        play_wrong(http, live, c["challenge_id"])
        assert http.post("/api/v1/challenges", json={}).status_code == 201


def test_behind_a_trusted_proxy_the_apps_own_pages_are_known_by_the_forwarded_host(tmp_path):
    proxies = (ip_network("127.0.0.1/32"),)
    with serve(tmp_path, play=8, trusted_proxies=proxies) as live, live.client() as http:
        page = {"Origin": "https://me-insideout.hf.space", "X-Forwarded-Host": "me-insideout.hf.space"}
        assert http.post("/api/v1/challenges", json={}, headers=page).status_code == 201
        forged = {"Origin": "https://evil.example", "X-Forwarded-Host": "me-insideout.hf.space"}
        assert http.post("/api/v1/challenges", json={}, headers=forged).status_code == 403
    with serve(tmp_path / "untrusted", play=8) as live, live.client() as http:
        page = {"Origin": "https://evil.example", "X-Forwarded-Host": "evil.example"}
        assert http.post("/api/v1/challenges", json={}, headers=page).status_code == 403


def test_challenges_opened_side_by_side_share_one_budget_of_failed_rounds(tmp_path):
    with serve(tmp_path, play=24, fail_cooldown_s=60) as live, live.client() as http:
        opened = [http.post("/api/v1/challenges", json={}).json()["challenge_id"] for _ in range(4)]
        assert [play_wrong(http, live, cid)["status"] for cid in opened[:3]] == ["retry"] * 3
        r = http.post(f"/api/v1/challenges/{opened[3]}/answer",
                      json={"answers": answers(live.services, opened[3], True)})
        assert r.status_code == 429 and r.json()["error"] == "cooldown"
        assert live.services.db.get_challenge(opened[3]).round == 1  # the refused answer changed nothing


def test_remembered_answers_are_forgotten_after_a_day(live):
    db = live.services.db
    assert db.remember_verification("shop-x", "old-key", "h", {"success": True}, now=1_000.0)
    assert db.remember_verification("shop-x", "new-key", "h", {"success": True}, now=1_000.0 + 86_401)
    assert db.remembered_verification("shop-x", "old-key", now=1_000.0 + 86_401) is None
    assert db.remembered_verification("shop-x", "new-key", now=1_000.0 + 86_401) is not None
