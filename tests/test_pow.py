"""Proof of work before a new challenge (insideout/pow.py): the rules, the HTTP API on a real server on loopback,
the bot lab's arena solving it, and the browser's solver (web/static/pow.js) in Debian's Chromium."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import replace

import pytest

from insideout import pow as proof
from insideout.botlab.arena import Arena
from insideout.botlab.attackers.random_guess import RandomGuesser
from insideout.botlab.evaluation import Identities, play_cell
from insideout.ratelimit import RateLimiter, RateLimits
from tests.conftest import SECRET, serve

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)
PUZZLE_FIELDS = {"algorithm", "salt", "difficulty", "expires_at", "signature"}



def solved(difficulty: int = 8, secret: str = SECRET, now: float | None = None) -> proof.Solution:
    return proof.solve(proof.issue(secret, difficulty, now=now))


def failing_nonce(puzzle: proof.Puzzle) -> str:
    return next(f"{n:x}" for n in range(10_000)
                if proof.leading_zero_bits(proof.digest(puzzle.salt, f"{n:x}")) < puzzle.difficulty)


# -- the rules --------------------------------------------------------------------------------------------


def test_leading_zero_bits_are_counted_across_bytes():
    assert proof.leading_zero_bits(b"\x80") == 0
    assert proof.leading_zero_bits(b"\x00\x01") == 15
    assert proof.leading_zero_bits(b"\x00\x00") == 16
    assert proof.leading_zero_bits(b"\x0f\xff") == 4


@pytest.mark.parametrize("difficulty", [0, 1, 8, 12])
def test_a_solved_puzzle_verifies_and_its_digest_has_the_zero_bits(difficulty):
    solution = solved(difficulty)
    proof.check(solution, SECRET, required=difficulty)
    assert proof.leading_zero_bits(proof.digest(solution.puzzle.salt, solution.nonce)) >= difficulty


def test_a_solution_round_trips_through_what_a_client_sends():
    solution = solved()
    assert proof.parse_solution(solution.as_dict()) == solution
    assert proof.parse_solution({k: v for k, v in solution.as_dict().items() if k != "algorithm"}) == solution


def test_a_nonce_that_does_not_solve_the_puzzle_is_refused():
    puzzle = proof.issue(SECRET, 12)
    with pytest.raises(proof.PowRefused) as refused:
        proof.check(proof.Solution(puzzle, failing_nonce(puzzle)), SECRET, required=12)
    assert refused.value.code == "pow_invalid" and "does not solve" in refused.value.message


@pytest.mark.parametrize("change", [
    {"difficulty": 1},  # an easier puzzle than the one issued
    {"salt": "0" * 32},
    {"expires_at": 4_000_000_000},
    {"signature": "0" * 64},
    {"algorithm": "SHA-1"},
])
def test_a_changed_puzzle_is_refused_as_not_issued_here(change):
    solution = solved(8)
    tampered = replace(solution, puzzle=replace(solution.puzzle, **change))
    with pytest.raises(proof.PowRefused) as refused:
        proof.check(tampered, SECRET, required=0)
    assert refused.value.code == "pow_invalid"


def test_a_puzzle_signed_with_another_key_is_refused():
    with pytest.raises(proof.PowRefused, match="not issued by this server"):
        proof.check(solved(secret="another-secret-key-0123456789abcdefgh"), SECRET, required=0)


def test_an_expired_puzzle_is_refused():
    solution = solved(now=time.time() - proof.PUZZLE_TTL_S - 1)
    with pytest.raises(proof.PowRefused) as refused:
        proof.check(solution, SECRET, required=0)
    assert refused.value.code == "pow_expired"
    proof.check(solution, SECRET, required=0, now=solution.puzzle.expires_at - 1)  # a moment before, it held


def test_a_puzzle_easier_than_the_client_now_needs_is_refused_as_too_easy():
    solution = solved(8)
    with pytest.raises(proof.PowRefused) as refused:
        proof.check(solution, SECRET, required=9)
    assert refused.value.code == "pow_too_easy"


def test_a_puzzle_is_spent_once():
    spent = proof.SpentPuzzles()
    puzzle = solved().puzzle
    assert not spent.is_spent(puzzle)
    spent.spend(puzzle)
    assert spent.is_spent(puzzle)
    with pytest.raises(proof.PowRefused) as refused:
        spent.spend(puzzle)
    assert refused.value.code == "pow_reused"


def test_spent_puzzles_are_forgotten_when_they_expire_and_a_full_memory_refuses_rather_than_forgets():
    spent = proof.SpentPuzzles(max_entries=2)
    now = time.time()
    old, new, newer = (proof.issue(SECRET, 0, now=now + i) for i in range(3))
    spent.spend(old, now)
    spent.spend(new, now)
    with pytest.raises(proof.PowRefused) as refused:
        spent.spend(newer, now)  # two live ones: forgetting one would let it be replayed
    assert refused.value.code == "pow_busy"
    spent.spend(newer, old.expires_at)  # the old one has expired (check refuses it anyway): room again
    assert len(spent) == 2 and not spent.is_spent(old)


def test_the_difficulty_rises_with_the_clients_rate_and_never_falls_below_the_base():
    rising = [proof.required_difficulty(12, n) for n in range(200)]
    assert rising[:proof.FREE_PER_MIN + 1] == [12] * (proof.FREE_PER_MIN + 1)
    assert rising == sorted(rising) and min(rising) == 12
    assert proof.required_difficulty(12, 4 * proof.FREE_PER_MIN) == 14  # four times the free rate: two bits
    assert proof.required_difficulty(12, 8 * proof.FREE_PER_MIN + 1) == 16
    assert proof.required_difficulty(30, 10**6) == proof.MAX_DIFFICULTY
    assert proof.required_difficulty(0, 10**6) == 0  # off stays off


def test_the_solver_gives_up_after_its_tries():
    with pytest.raises(RuntimeError, match="no solution in 3 tries"):
        proof.solve(proof.issue(SECRET, 200), max_tries=3)


def malformed() -> list:
    good = solved().as_dict()
    return [
        None, [], "a string", 42,
        {**good, "nonce": "xyz"},  # not hex
        {**good, "nonce": "ABC"},  # upper case
        {**good, "nonce": ""},
        {**good, "nonce": "0" * 17},  # over 16 digits
        {**good, "nonce": "0" * 1_000_000},  # huge
        {**good, "nonce": 12},
        {**good, "salt": good["salt"][:-1]},
        {**good, "signature": None},
        {**good, "difficulty": "8"},
        {**good, "difficulty": True},
        {**good, "difficulty": 8.0},
        {**good, "difficulty": -1},
        {**good, "expires_at": 1e12},
        {**good, "expires_at": 2**80},
        {**good, "algorithm": "MD5"},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "nonce"},
    ]


@pytest.mark.parametrize("data", malformed())
def test_a_malformed_solution_is_refused_clearly(data):
    with pytest.raises(proof.PowRefused) as refused:
        proof.parse_solution(data)
    assert refused.value.code == "pow_invalid" and refused.value.message.startswith("the proof of work is malformed")
    assert len(refused.value.message) < 200


def test_the_rate_limiters_count_records_and_forgets_nothing():
    limiter = RateLimiter(limit=10, window_s=60)
    for t in (0.0, 1.0, 2.0):
        limiter.hit("a", now=t)
    assert limiter.count("a", now=30.0) == 3 and limiter.count("a", now=61.5) == 1
    assert limiter.count("nobody", now=1.0) == 0 and "nobody" not in limiter._events
    assert limiter.count("a", now=30.0) == 3  # counting dropped nothing
    limits = RateLimits.per_minute(100, 100)
    limits.new_challenge("b")
    limits.request("b")
    assert limits.recent_challenges("b") == 1 and limits.recent_challenges("c") == 0


# -- the HTTP API -----------------------------------------------------------------------------------------


def puzzle_of(http, **headers) -> dict:
    r = http.get("/api/v1/pow", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    return r.json()


def solve_json(puzzle: dict) -> dict:
    return proof.solve(proof.Puzzle(**puzzle)).as_dict()


def create(http, body: dict, **headers):
    return http.post("/api/v1/challenges", json=body, headers=headers)


def test_with_proof_of_work_off_challenges_open_as_before_and_the_puzzle_asks_nothing(tmp_path):
    with serve(tmp_path) as live, live.client() as http:
        assert create(http, {}).status_code == 201
        assert http.post("/api/v1/challenges").status_code == 201  # no body at all
        puzzle = puzzle_of(http)
        assert set(puzzle) == PUZZLE_FIELDS and puzzle["difficulty"] == 0
        assert create(http, {"pow": solve_json(puzzle)}).status_code == 201  # sent anyway: ignored
        assert create(http, {"pow": solve_json(puzzle)}).status_code == 201
        assert create(http, {"difficulty": "easy"}).status_code == 422  # still only {} or {"pow"}


def test_with_proof_of_work_on_a_challenge_without_a_solution_is_refused_with_a_json_403(tmp_path):
    with serve(tmp_path, pow_difficulty=8) as live, live.client() as http:
        for body in ({}, None):
            r = http.post("/api/v1/challenges", json=body)
            assert r.status_code == 403 and r.headers["content-type"] == "application/json"
            assert set(r.json()) == {"error", "message"} and r.json()["error"] == "pow_required"
            assert "/api/v1/pow" in r.json()["message"]
        assert live.services.rate_limits.recent_challenges("127.0.0.1") == 0


def test_a_solved_puzzle_opens_one_challenge_and_only_one(tmp_path):
    with serve(tmp_path, pow_difficulty=8) as live, live.client() as http:
        puzzle = puzzle_of(http)
        assert puzzle["difficulty"] == 8 and puzzle["algorithm"] == "SHA-256"
        body = {"pow": solve_json(puzzle)}
        first = create(http, body)
        assert first.status_code == 201 and first.json()["clips"]
        again = create(http, body)
        assert again.status_code == 403 and again.json()["error"] == "pow_reused"


def test_an_expired_tampered_foreign_or_wrong_solution_is_refused(tmp_path):
    with serve(tmp_path, pow_difficulty=8) as live, live.client() as http:
        expired = solved(8, now=time.time() - proof.PUZZLE_TTL_S - 5).as_dict()
        foreign = solved(8, secret="another-secret-key-0123456789abcdefgh").as_dict()
        good = solve_json(puzzle_of(http))
        easier = solved(0).as_dict()  # a puzzle this server signed, but below its difficulty
        wrong = {**good, "nonce": failing_nonce(proof.Puzzle(**{k: good[k] for k in PUZZLE_FIELDS}))}
        for body, code in [(expired, "pow_expired"), (foreign, "pow_invalid"), ({**good, "difficulty": 1},
                           "pow_invalid"), ({**good, "salt": "f" * 32}, "pow_invalid"), (easier, "pow_too_easy"),
                           (wrong, "pow_invalid")]:
            r = create(http, {"pow": body})
            assert (r.status_code, r.json()["error"]) == (403, code), body
        assert create(http, {"pow": good}).status_code == 201  # the refusals spent nothing


@pytest.mark.parametrize("pow_body", [
    "a string", [], 7, {"nonce": "0"}, {"salt": {"$gt": ""}}, "x" * 10_000,
])
def test_malformed_proof_of_work_bodies_are_a_json_422_never_a_500(tmp_path, pow_body):
    with serve(tmp_path, pow_difficulty=4) as live, live.client() as http:
        r = create(http, {"pow": pow_body})
        assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_bad_nonces_and_wrong_types_get_a_clear_json_refusal(tmp_path):
    with serve(tmp_path, pow_difficulty=4) as live, live.client() as http:
        good = solve_json(puzzle_of(http))
        for change in ({"nonce": "not-hex"}, {"nonce": "f" * 17}, {"nonce": "0" * 5000}, {"difficulty": "4"},
                       {"difficulty": 4.5}, {"expires_at": "soon"}, {"signature": 12}, {"algorithm": "MD5"}):
            r = create(http, {"pow": {**good, **change}})
            assert r.status_code in (403, 413, 422), (change, r.status_code)
            assert r.json()["error"] in ("pow_invalid", "invalid_request", "body_too_large"), change
        assert create(http, {"pow": good}).status_code == 201


def test_a_client_whose_rate_rose_needs_a_harder_puzzle_and_a_hoarded_easy_one_is_refused(tmp_path):
    with serve(tmp_path, pow_difficulty=4, trusted_proxies=LOOPBACK) as live, live.client() as http:
        me = {"x-forwarded-for": "198.51.100.7"}
        hoarded = solve_json(puzzle_of(http, **me))
        seen = []
        for _ in range(proof.FREE_PER_MIN + 1):
            puzzle = puzzle_of(http, **me)
            seen.append(puzzle["difficulty"])
            assert create(http, {"pow": solve_json(puzzle)}, **me).status_code == 201
        assert seen == [4] * (proof.FREE_PER_MIN + 1)
        assert puzzle_of(http, **me)["difficulty"] == 5  # one more than free: one bit more
        assert puzzle_of(http, **{"x-forwarded-for": "198.51.100.8"})["difficulty"] == 4  # per client
        r = create(http, {"pow": hoarded}, **me)
        assert (r.status_code, r.json()["error"]) == (403, "pow_too_easy")


def test_refused_solutions_count_as_requests_never_as_new_challenges(tmp_path):
    with serve(tmp_path, pow_difficulty=4, request_limit_per_min=8) as live, live.client() as http:
        assert [create(http, {}).status_code for _ in range(8)] == [403] * 8
        r = http.get("/api/v1/pow")
        assert r.status_code == 429 and r.json()["error"] == "rate_limited"  # 8 requests: the ninth is over
    with serve(tmp_path / "again", pow_difficulty=4) as live, live.client() as http:
        for _ in range(20):
            assert create(http, {}).status_code == 403
        assert puzzle_of(http)["difficulty"] == 4  # twenty refusals opened no challenge: no rise


def test_a_rate_limited_solution_is_not_spent_and_opens_a_challenge_later(tmp_path):
    with serve(tmp_path, pow_difficulty=4, rate_limit_per_min=1) as live, live.client() as http:
        assert create(http, {"pow": solve_json(puzzle_of(http))}).status_code == 201
        kept = solve_json(puzzle_of(http))
        r = create(http, {"pow": kept})
        assert r.status_code == 429
        live.services.rate_limits.challenges._events.clear()  # the minute has passed
        assert create(http, {"pow": kept}).status_code == 201


def test_the_puzzle_carries_nothing_but_its_own_fields(tmp_path):
    with serve(tmp_path, pow_difficulty=8) as live, live.client() as http:
        puzzles = [puzzle_of(http) for _ in range(5)]
        rows = live.services.db.clips()
        for p in puzzles:
            assert set(p) == PUZZLE_FIELDS
            text = str(p)
            for row in rows:
                assert row["audio_name"] not in text and row["sha256"] not in text
            assert p["expires_at"] - time.time() == pytest.approx(proof.PUZZLE_TTL_S, abs=5)
        assert len({p["salt"] for p in puzzles}) == 5


def test_the_openapi_document_lists_the_puzzle_the_script_and_the_refusals(tmp_path):
    with serve(tmp_path) as live, live.client() as http:
        doc = http.get("/openapi.json").json()
    assert {"/api/v1/pow", "/api/v1/pow.js"} <= set(doc["paths"])
    create_doc = doc["paths"]["/api/v1/challenges"]["post"]
    assert {"403", "429", "503"} <= set(create_doc["responses"])
    assert "pow_reused" in create_doc["responses"]["403"]["description"]


def test_the_solver_script_is_served_as_javascript(http):
    r = http.get("/api/v1/pow.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert b"InsideOutPow" in r.content and b"crypto.subtle.digest" in r.content


# -- the bot lab's arena ----------------------------------------------------------------------------------


def test_the_arena_solves_a_puzzle_before_each_challenge_and_the_cell_records_the_seconds(tmp_path):
    """A `bots evaluate`-style cell, difficulty 8: the random guesser plays 6 challenges as one client."""
    with serve(tmp_path, pow_difficulty=8, trusted_proxies=LOOPBACK) as live, live.client() as http:
        arena = Arena(http)
        cell = play_cell(arena, live.services, RandomGuesser(0), 6, 0, Identities(), "pow8", (1, 3))
        assert arena.pow_required
        played = arena.play(RandomGuesser(1), client="198.18.9.9")
    assert cell.n == 6 and cell.control_rounds >= 6
    assert cell.pow_s is not None and cell.pow_s > 0
    assert played.pow_s is not None and played.pow_s > 0


def test_without_proof_of_work_the_arena_asks_for_no_puzzle_and_records_none(tmp_path):
    with serve(tmp_path, trusted_proxies=LOOPBACK) as live, live.client() as http:
        arena = Arena(http)
        cell = play_cell(arena, live.services, RandomGuesser(0), 3, 0, Identities(), "today", (1, 3))
    assert not arena.pow_required and cell.pow_s is None and cell.n == 3


# -- the browser ------------------------------------------------------------------------------------------


def test_the_browsers_solution_is_accepted_by_the_server(tmp_path):
    """Debian's Chromium (.ci/install_browser.sh) loads the app's script and opens a challenge with it; both of its
    engines agree with the Python solver."""
    from playwright.sync_api import sync_playwright

    from tests.chromium import CHROMIUM, CHROMIUM_ARGS

    with serve(tmp_path, pow_difficulty=10) as live, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{live.url}/api/v1/health")
            page.add_script_tag(url="/api/v1/pow.js")
            solution = page.evaluate("async () => InsideOutPow.solve(await InsideOutPow.fetchPuzzle(''))")
            challenge = page.evaluate("() => InsideOutPow.createChallenge('')")
            # Web Crypto finds the same first nonce as the default plain-JavaScript engine and Python.
            puzzle = proof.issue(SECRET, 12)
            by_js = page.evaluate("(p) => InsideOutPow.solve(p)", puzzle.as_dict())
            by_subtle = page.evaluate("(p) => InsideOutPow.solve(p, {engine: 'subtle'})", puzzle.as_dict())
        finally:
            browser.close()
        with live.client() as http:
            r = create(http, {"pow": solution})  # the solution the browser found by itself
    assert by_js == by_subtle == proof.solve(puzzle).as_dict()
    assert challenge["clips"] and challenge["challenge_id"]
    assert r.status_code == 201, r.text
    puzzle = proof.parse_solution(solution)
    assert proof.leading_zero_bits(proof.digest(puzzle.puzzle.salt, puzzle.nonce)) >= 10
