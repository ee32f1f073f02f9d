import threading
import time
from dataclasses import replace

import pytest

from insideout.captcha import BadAnswer, Captcha, Closed, Expired, NoClips, NotFound, Policy
from insideout.services import build_services
from tests.conftest import another_deployment, make_settings, stock
from tests.helpers import answers, control_label

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite, then on DynamoDB

def test_a_round_has_a_control_and_an_unverified_clip(stocked):
    view = stocked.captcha.create("client")
    challenge = stocked.db.get_challenge(view.challenge_id)
    assert len(view.slots) == 2
    assert sorted(s.is_control for s in challenge.slots) == [False, True]


def test_a_round_without_unverified_clips_shows_an_ungraded_decoy_beside_the_control(services):
    stock(services, play=8, unverified=0)
    view = services.captcha.create("client")
    slots = services.db.get_challenge(view.challenge_id).slots
    assert len(view.slots) == 2
    (control,), (decoy,) = [s for s in slots if s.is_control], [s for s in slots if not s.is_control]
    assert decoy.is_decoy and not control.is_decoy and decoy.clip_id != control.clip_id
    assert services.db.get_clip(decoy.clip_id)["pool"] == "play"


def test_no_round_ever_shows_the_control_alone_once_a_visitor_has_voted_on_every_unverified_clip(services):
    stock(services, play=16, unverified=2)
    for _ in range(6):
        view = services.captcha.create("client")
        assert len(view.slots) == 2
        services.captcha.answer(view.challenge_id, answers(services, view.challenge_id, True), "client")
    kinds = [sorted((s.is_control, s.is_decoy) for s in services.db.get_challenge(view.challenge_id).slots)]
    assert kinds == [[(False, True), (True, False)]]  # both unverified clips voted on: a decoy now


def test_a_decoys_answer_is_neither_scored_nor_a_vote(services):
    stock(services, play=8, unverified=0)
    view = services.captcha.create("client")
    given = answers(services, view.challenge_id, True)  # the decoy gets "happy", right or not
    assert services.captcha.answer(view.challenge_id, given, "client").status == "passed"
    assert services.db.all_votes() == []


def test_a_round_with_two_play_clips_only_still_has_a_decoy(services):
    services = build_services(replace(services.settings, max_rounds=1, rounds_to_pass=1))
    stock(services, play=2, unverified=0)
    for _ in range(5):
        assert len(services.captcha.create("client").slots) == 2


def test_with_a_serve_budget_a_spent_clip_is_never_served_again(services):
    services = build_services(replace(services.settings, serve_budget=2, max_rounds=1, rounds_to_pass=1))
    ids = stock(services, play=12, unverified=0)
    served: dict[int, int] = {}
    with pytest.raises(NoClips):  # rounds of two play clips until no two fresh ones are left
        for _ in range(13):
            challenge = services.db.get_challenge(services.captcha.create("client").challenge_id)
            for s in challenge.slots:
                served[s.clip_id] = served.get(s.clip_id, 0) + 1
    assert max(served.values()) == 2 and sum(served.values()) >= 22  # at most one clip left with a serving
    spent = [i for i in ids["play"] if served.get(i) == 2]
    assert all(services.db.get_clip(i)["retired"].startswith("spent") for i in spent)
    assert services.db.count_pickable("play") == len(ids["play"]) - len(spent) <= 1


def test_concurrent_rounds_do_not_serve_a_clip_past_its_budget(services):
    services = build_services(replace(services.settings, serve_budget=1, max_rounds=1, rounds_to_pass=1))
    stock(services, play=40, unverified=0)
    seen: list[int] = []
    lock = threading.Lock()

    def play():
        for _ in range(5):
            try:
                challenge = services.db.get_challenge(services.captcha.create("client").challenge_id)
            except NoClips:
                return
            with lock:
                seen.extend(s.clip_id for s in challenge.slots)

    threads = [threading.Thread(target=play) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == len(set(seen)) == 40


def test_a_round_that_cannot_be_made_spends_no_clip(services):
    """A drained pool refuses a round whole: the one fresh clip left is not burnt by the attempt (it would be
    by every retry of a waiting client, and the restock could never catch up)."""
    ids = stock(services, play=1, unverified=0)
    for _ in range(3):
        assert services.db.take_plays([[], []], budget=1, now=0.0) is None
    row = services.db.get_clip(ids["play"][0])
    assert row["served"] == 0 and row["retired"] is None
    assert services.db.take_plays([[]], budget=1, now=0.0) == ids["play"]


def test_without_a_serve_budget_clips_are_counted_but_never_retired(stocked):
    for _ in range(20):
        stocked.captcha.create("client")
    rows = [stocked.db.get_clip(i) for i in stocked.clip_ids["play"]]
    assert sum(r["served"] for r in rows) == 20 and not any(r["retired"] for r in rows)


# -- deferred feedback --------------------------------------------------------------------------


def deferred(services, rounds_to_pass: int = 1):
    return build_services(replace(services.settings, feedback="deferred", rounds_to_pass=rounds_to_pass))


def test_deferred_feedback_plays_every_round_even_after_a_right_one(services):
    services = deferred(services)
    stock(services)
    cid = services.captcha.create("client").challenge_id
    first = services.captcha.answer(cid, answers(services, cid, True), "client")
    assert (first.status, first.round, first.revealed, first.token) == ("retry", 2, False, None)
    second = services.captcha.answer(cid, answers(services, cid, False), "client")
    assert (second.status, second.revealed) == ("retry", False)
    last = services.captcha.answer(cid, answers(services, cid, False), "client")
    assert last.status == "passed" and last.token  # 1 of 3 right passes, told only now


def test_deferred_feedback_fails_only_after_the_last_round(services):
    services = deferred(services, rounds_to_pass=2)
    stock(services)
    cid = services.captcha.create("client").challenge_id
    statuses = [services.captcha.answer(cid, answers(services, cid, right), "client").status
                for right in (False, False, True)]
    assert statuses == ["retry", "retry", "failed"]


def test_immediate_feedback_says_a_retry_follows_a_wrong_round(stocked):
    cid = stocked.captcha.create("client").challenge_id
    assert stocked.captcha.answer(cid, answers(stocked, cid, False), "client").revealed


@pytest.mark.parametrize(("passed", "round_no", "k", "n", "deferred", "state"), [
    (1, 1, 1, 3, False, "passed"), (0, 1, 1, 3, False, "open"), (0, 3, 1, 3, False, "failed"),
    (0, 2, 2, 3, False, "failed"), (1, 1, 1, 3, True, "open"), (0, 2, 2, 3, True, "open"),
    (1, 3, 1, 3, True, "passed"), (1, 3, 2, 3, True, "failed"), (3, 3, 3, 3, True, "passed"),
])
def test_the_state_after_a_round_follows_the_policy_and_the_feedback(passed, round_no, k, n, deferred, state):
    from insideout.captcha import next_state

    assert next_state(passed, round_no, k, n, deferred) == state


def test_slot_names_are_random_and_not_clip_ids(stocked):
    view = stocked.captcha.create("client")
    challenge = stocked.db.get_challenge(view.challenge_id)
    assert {s.slot for s in challenge.slots}.isdisjoint({str(s.clip_id) for s in challenge.slots})
    assert all(len(s) >= 8 for s in view.slots)


def test_control_position_is_random(stocked):
    positions = set()
    for _ in range(30):
        challenge = stocked.db.get_challenge(stocked.captcha.create("c").challenge_id)
        positions.add(next(s.position for s in challenge.slots if s.is_control))
    assert positions == {0, 1}


def test_right_control_passes_and_gives_a_token(stocked):
    view = stocked.captcha.create("client")
    result = stocked.captcha.answer(view.challenge_id, answers(stocked, view.challenge_id, True), "client")
    assert result.status == "passed"
    assert result.token


def test_wrong_control_gives_a_next_round_with_fresh_clips(stocked):
    view = stocked.captcha.create("client")
    first = {s.clip_id for s in stocked.db.get_challenge(view.challenge_id).slots}
    result = stocked.captcha.answer(view.challenge_id, answers(stocked, view.challenge_id, False), "client")
    assert result.status == "retry" and result.round == 2 and result.token is None
    second = {s.clip_id for s in stocked.db.get_challenge(view.challenge_id).slots}
    assert first.isdisjoint(second)
    assert set(result.next_round.slots).isdisjoint(view.slots)


def test_three_wrong_rounds_fail_the_challenge(stocked):
    cid = stocked.captcha.create("client").challenge_id
    statuses = [
        stocked.captcha.answer(cid, answers(stocked, cid, False), "client").status for _ in range(3)
    ]
    assert statuses == ["retry", "retry", "failed"]
    assert stocked.db.get_challenge(cid).state == "failed"


def test_pass_in_the_last_round(stocked):
    cid = stocked.captcha.create("client").challenge_id
    stocked.captcha.answer(cid, answers(stocked, cid, False), "client")
    stocked.captcha.answer(cid, answers(stocked, cid, False), "client")
    assert stocked.captcha.answer(cid, answers(stocked, cid, True), "client").status == "passed"


def test_policy_of_two_rounds_to_pass(settings):
    services = build_services(replace(settings, rounds_to_pass=2, max_rounds=3))
    stock(services)
    cid = services.captcha.create("client").challenge_id
    assert services.captcha.answer(cid, answers(services, cid, True), "client").status == "retry"
    assert services.captcha.answer(cid, answers(services, cid, False), "client").status == "retry"
    assert services.captcha.answer(cid, answers(services, cid, True), "client").status == "passed"


def test_policy_fails_early_when_passing_is_out_of_reach(settings):
    services = build_services(replace(settings, rounds_to_pass=2, max_rounds=3))
    stock(services)
    cid = services.captcha.create("client").challenge_id
    services.captcha.answer(cid, answers(services, cid, False), "client")
    assert services.captcha.answer(cid, answers(services, cid, False), "client").status == "failed"


def test_chance_pass_probability_of_the_default_policy():
    assert Policy(1, 3).chance_pass_probability() == pytest.approx(1 - (7 / 8) ** 3)
    assert Policy(3, 3).chance_pass_probability() == pytest.approx((1 / 8) ** 3)
    assert Policy(2, 3).chance_pass_probability() == pytest.approx(3 * (1 / 8) ** 2 * (7 / 8) + (1 / 8) ** 3)


def test_one_answer_per_round(stocked):
    cid = stocked.captcha.create("client").challenge_id
    given = answers(stocked, cid, False)
    stocked.captcha.answer(cid, given, "client")
    with pytest.raises(BadAnswer):  # the old slots are no longer in the round
        stocked.captcha.answer(cid, given, "client")


def test_no_answer_after_the_challenge_closes(stocked):
    cid = stocked.captcha.create("client").challenge_id
    stocked.captcha.answer(cid, answers(stocked, cid, True), "client")
    with pytest.raises(Closed):
        stocked.captcha.answer(cid, answers(stocked, cid, True), "client")


def test_no_answer_after_expiry(stocked):
    view = stocked.captcha.create("client")
    given = answers(stocked, view.challenge_id, True)
    with pytest.raises(Expired):
        stocked.captcha.answer(view.challenge_id, given, "client", now=view.expires_at + 1)
    assert stocked.db.get_challenge(view.challenge_id).state == "open"


def test_no_audio_after_expiry(stocked):
    view = stocked.captcha.create("client")
    with pytest.raises(Expired):
        stocked.captcha.audio(view.challenge_id, view.slots[0], now=view.expires_at + 1)


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"only-one": "happy"},
        "not a dict",
    ],
)
def test_malformed_answers_are_refused_and_change_nothing(stocked, bad):
    cid = stocked.captcha.create("client").challenge_id
    with pytest.raises(BadAnswer):
        stocked.captcha.answer(cid, bad, "client")
    assert stocked.db.get_challenge(cid).round == 1
    assert stocked.captcha.answer(cid, answers(stocked, cid, True), "client").status == "passed"


def test_an_unknown_emotion_is_refused(stocked):
    cid = stocked.captcha.create("client").challenge_id
    given = {slot: "bored" for slot in answers(stocked, cid, True)}
    with pytest.raises(BadAnswer):
        stocked.captcha.answer(cid, given, "client")


def test_a_missing_slot_is_refused(stocked):
    cid = stocked.captcha.create("client").challenge_id
    slot, label = control_label(stocked, cid)
    with pytest.raises(BadAnswer):
        stocked.captcha.answer(cid, {slot: label}, "client")


def test_unknown_challenge_ids_are_not_found(stocked):
    for bad in ["nope", "../../etc/passwd", "x" * 40, "a" * 1000, ""]:
        with pytest.raises(NotFound):
            stocked.captcha.answer(bad, {}, "client")


def test_empty_play_pool_has_no_challenges(services):
    with pytest.raises(NoClips):
        services.captcha.create("client")


def answer_at_once(services, cid: str, given: dict, client: str, n: int) -> list[str]:
    """n threads answer the same round with the same answers; each one's status, or "refused"."""
    outcomes = []

    def go():
        try:
            outcomes.append(services.captcha.answer(cid, given, client).status)
        except Closed:
            outcomes.append("refused")

    threads = [threading.Thread(target=go) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


def test_concurrent_answers_to_one_round_count_once(stocked):
    cid = stocked.captcha.create("client").challenge_id
    assert answer_at_once(stocked, cid, answers(stocked, cid, True), "client", 8) == ["passed"] + ["refused"] * 7


def test_the_answer_that_loses_a_race_spends_no_clip_of_the_serve_budget(tmp_path):
    services = build_services(make_settings(tmp_path / "data", serve_budget=1, rounds_to_pass=2, max_rounds=3))
    stock(services, play=16, unverified=0)
    cid = services.captcha.create("203.0.113.1").challenge_id
    given = answers(services, cid, True)
    # Both answers read the open round before either writes: the interleaving of a double submit.
    both_read, read = threading.Barrier(2), services.db.get_challenge
    services.db.get_challenge = lambda c: (lambda ch: (both_read.wait(5), ch)[1])(read(c))
    outcomes = answer_at_once(services, cid, given, "203.0.113.1", 2)
    services.db.get_challenge = read
    assert outcomes == ["refused", "retry"]
    shown = {s.clip_id for s in read(cid).slots} | set(read(cid).used_clip_ids)
    spent = {c["id"] for c in services.db.clips() if c["retired"]}
    assert spent == shown  # the clips the loser drew for a round no one saw are active again


# -- pass tokens ------------------------------------------------------------------------------


def verify_token(services, token, now=None) -> tuple[bool, list[str]]:
    """siteverify with the built-in site's secret: the site these challenges are created for."""
    verdict = services.verifier.siteverify(services.sites.builtin_secret(), token, now=now)
    return verdict.success, list(verdict.error_codes)


def passed_token(services) -> str:
    cid = services.captcha.create("client").challenge_id
    return services.captcha.answer(cid, answers(services, cid, True), "client").token


def test_a_token_succeeds_exactly_once(stocked):
    token = passed_token(stocked)
    assert verify_token(stocked, token) == (True, [])
    assert verify_token(stocked, token) == (False, ["timeout-or-duplicate"])


def test_a_tampered_token_fails(stocked):
    token = passed_token(stocked)
    version, body, signature = token.split(".")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    assert verify_token(stocked, f"{version}.{flipped}.{signature}")[0] is False
    assert verify_token(stocked, token[:-1])[0] is False
    assert verify_token(stocked, token)[0] is True  # the real one is still good


def test_an_expired_token_fails(stocked):
    token = passed_token(stocked)
    later = time.time() + stocked.settings.token_ttl_s + 1
    assert verify_token(stocked, token, now=later) == (False, ["timeout-or-duplicate"])


def test_a_foreign_token_fails(stocked, tmp_path):
    other = build_services(another_deployment(stocked.settings, tmp_path / "other",
                                              secret_key="another-secret-key-0123456789abcdefgh"))
    stock(other)
    assert verify_token(stocked, passed_token(other)) == (False, ["invalid-input-response"])


def test_a_token_signed_right_but_never_issued_fails(stocked):
    forger = Captcha(stocked.library, stocked.consensus, stocked.settings)
    token, _row = forger._issue_token("x" * 32, time.time())  # signed, but not in the database
    assert verify_token(stocked, token) == (False, ["invalid-input-response"])


@pytest.mark.parametrize("junk", [None, "", 42, "v1", "v1.a.b", "v2.x.y", "." * 600])
def test_junk_tokens_fail_cleanly(stocked, junk):
    assert verify_token(stocked, junk)[0] is False
