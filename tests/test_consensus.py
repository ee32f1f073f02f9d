import threading

import pytest

from insideout.consensus import ConsensusRule, judge
from insideout.db import Vote
from tests.helpers import answers, unverified_clip

RULE = ConsensusRule(min_votes=10, min_share=0.6, ambiguous_after=30)



pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite, then on DynamoDB

def test_no_votes_is_open():
    assert judge({}, RULE).state == "open"


def test_ten_votes_at_sixty_percent_is_consensus():
    verdict = judge({"sad": 6, "calm": 4}, RULE)
    assert (verdict.state, verdict.label) == ("consensus", "sad")


def test_nine_votes_are_not_enough():
    assert judge({"sad": 9}, RULE).state == "open"


def test_under_sixty_percent_is_not_consensus():
    assert judge({"sad": 5, "calm": 3, "happy": 2}, RULE).state == "open"


def test_a_tie_at_the_top_is_never_consensus():
    assert judge({"sad": 6, "calm": 6}, ConsensusRule(10, 0.5, 30)).state == "open"


def test_thirty_votes_without_agreement_is_ambiguous():
    assert judge({"sad": 15, "calm": 15}, RULE).state == "ambiguous"


def vote(clip_id, voter, emotion="sad", right=True):
    return Vote(clip_id, voter, emotion, right, "labeling")


def test_votes_with_a_wrong_control_do_not_count(stocked):
    clip = stocked.clip_ids["unverified"][0]
    counted = stocked.consensus.record([vote(clip, f"bot{i}", right=False) for i in range(50)])
    assert not any(counted)
    assert stocked.db.tally(clip) == {}
    assert stocked.db.get_clip(clip)["pool"] == "unverified"


def test_a_voter_counts_once_per_clip(stocked):
    clip = stocked.clip_ids["unverified"][0]
    counted = stocked.consensus.record([vote(clip, "same") for _ in range(20)])
    assert counted.count(True) == 1
    assert stocked.db.tally(clip) == {"sad": 1}


def test_consensus_moves_the_clip_and_its_audio_to_learning(stocked):
    clip = stocked.clip_ids["unverified"][0]
    stocked.consensus.record([vote(clip, f"v{i}") for i in range(10)])
    row = stocked.db.get_clip(clip)
    assert (row["pool"], row["store_pool"], row["label"], row["label_source"]) == (
        "learning", "learning", "sad", "consensus")
    assert stocked.store.exists("learning", row["audio_name"])
    assert not stocked.store.exists("unverified", row["audio_name"])


def test_settling_twice_moves_once(stocked):
    clip = stocked.clip_ids["unverified"][0]
    stocked.consensus.record([vote(clip, f"v{i}") for i in range(10)])
    stocked.consensus.settle(clip)
    stocked.consensus.settle(clip)
    assert stocked.db.pool_counts()["learning"] == 1


def test_disagreement_retires_the_clip_as_ambiguous(stocked):
    clip = stocked.clip_ids["unverified"][0]
    emotions = ["sad", "calm", "happy"] * 10
    stocked.consensus.record([vote(clip, f"v{i}", e) for i, e in enumerate(emotions)])
    row = stocked.db.get_clip(clip)
    assert (row["pool"], row["retired"]) == ("unverified", "ambiguous")
    assert stocked.db.pick_unverified([], "newcomer") != clip


def test_a_bot_that_fails_every_control_cannot_promote_a_clip(stocked):
    for i in range(40):
        cid = stocked.captcha.create(f"bot{i}").challenge_id
        while True:
            result = stocked.captcha.answer(cid, answers(stocked, cid, False, vote="angry"), f"bot{i}")
            if result.status != "retry":
                break
    assert stocked.db.pool_counts()["learning"] == 0
    assert all(not row["votes"] for row in stocked.db.tallies())


def test_humans_who_pass_the_control_promote_a_clip(stocked):
    promoted = None
    for i in range(80):
        cid = stocked.captcha.create(f"human{i}").challenge_id
        clip = unverified_clip(stocked, cid)
        stocked.captcha.answer(cid, answers(stocked, cid, True, vote="fearful"), f"human{i}")
        if stocked.db.get_clip(clip)["pool"] == "learning":
            promoted = clip
            break
    assert promoted is not None
    assert stocked.db.get_clip(promoted)["label"] == "fearful"


def test_concurrent_votes_on_one_clip_lose_nothing(stocked):
    clip = stocked.clip_ids["unverified"][1]
    rule = stocked.consensus.rule
    stocked.consensus.rule = ConsensusRule(10_000, rule.min_share, 10_000)  # keep it unverified
    barrier = threading.Barrier(8)

    def voter(t):
        barrier.wait()
        for i in range(25):
            stocked.consensus.record([vote(clip, f"t{t}-{i}", "calm")])

    threads = [threading.Thread(target=voter, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stocked.db.tally(clip) == {"calm": 200}


def test_concurrent_consensus_moves_the_clip_exactly_once(stocked):
    clip = stocked.clip_ids["unverified"][2]
    barrier = threading.Barrier(8)
    errors = []

    def voter(t):
        barrier.wait()
        try:
            for i in range(4):
                stocked.consensus.record([vote(clip, f"t{t}-{i}", "calm")])
        except Exception as e:  # noqa: BLE001 - any error fails the test below
            errors.append(e)

    threads = [threading.Thread(target=voter, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    row = stocked.db.get_clip(clip)
    assert (row["pool"], row["store_pool"]) == ("learning", "learning")
    assert stocked.store.exists("learning", row["audio_name"])
    assert not stocked.store.exists("unverified", row["audio_name"])


@pytest.mark.parametrize("tally,state", [({"sad": 10}, "consensus"), ({"sad": 3}, "open")])
def test_tallies_report_the_verdict(stocked, tally, state):
    clip = stocked.clip_ids["unverified"][3]
    votes = [vote(clip, f"{e}{i}", e) for e, n in tally.items() for i in range(n)]
    stocked.consensus.record(votes)
    entry = next(t for t in stocked.consensus.tallies() if t["clip"] == clip)
    assert entry["state"] == state
    assert entry["votes"]["sad"] == tally["sad"]
