"""The labeling flow of the engine (insideout.labeling): which clip comes next, skips, and votes."""

from __future__ import annotations

import pytest

from insideout.accounts import Session
from insideout.emotions import UnknownEmotion
from insideout.labeling import LabelingTurn
from insideout.ratelimit import RateLimited
from insideout.services import build_services
from tests.conftest import make_settings, stock

ALICE = Session("alice", "volunteer")
CLIENT = "198.51.100.7"



def test_the_next_clip_is_unverified_and_needs_votes_most(stocked):
    first = stocked.labeling.next(ALICE)
    assert first.clip_id in stocked.clip_ids["unverified"]
    stocked.labeling.vote(Session("bob", "volunteer"), first, "sad", CLIENT)
    assert stocked.labeling.next(ALICE).clip_id != first.clip_id  # the others have fewer votes


def test_a_vote_counts_once_per_person_and_clip(stocked):
    turn = stocked.labeling.next(ALICE)
    counted, after = stocked.labeling.vote(ALICE, turn, "sad", CLIENT)
    assert counted and after.clip_id not in (turn.clip_id, None)
    again, _ = stocked.labeling.vote(ALICE, turn, "calm", CLIENT)
    assert not again and stocked.db.tally(turn.clip_id) == {"sad": 1}


def test_skipped_clips_come_round_again_when_nothing_else_is_left(stocked):
    turn = stocked.labeling.next(ALICE)
    seen = set()
    for _ in stocked.clip_ids["unverified"]:
        seen.add(turn.clip_id)
        turn = stocked.labeling.skip(ALICE, turn)
    assert seen == set(stocked.clip_ids["unverified"])
    assert turn.clip_id in seen and turn.skipped == ()


def test_nothing_left_to_label_is_a_turn_without_a_clip(stocked):
    turn = stocked.labeling.next(ALICE)
    while turn.clip_id is not None:
        _, turn = stocked.labeling.vote(ALICE, turn, "happy", CLIENT)
    assert stocked.labeling.audio(turn) is None
    assert stocked.labeling.vote(ALICE, turn, "happy", CLIENT) == (False, LabelingTurn())


def test_only_the_eight_emotions_are_votes(stocked):
    turn = stocked.labeling.next(ALICE)
    with pytest.raises(UnknownEmotion):
        stocked.labeling.vote(ALICE, turn, "bored", CLIENT)
    assert stocked.db.tally(turn.clip_id) == {}


def test_labeling_is_rate_limited_like_every_request(tmp_path):
    services = build_services(make_settings(tmp_path / "data", request_limit_per_min=1))
    stock(services)
    turn = services.labeling.next(ALICE)
    _, turn = services.labeling.vote(ALICE, turn, "sad", CLIENT)
    with pytest.raises(RateLimited):
        services.labeling.vote(ALICE, turn, "sad", CLIENT)
    assert services.db.tally(turn.clip_id) == {}


def test_labeling_audio_differs_at_every_serving(stocked):
    turn = stocked.labeling.next(ALICE)
    assert stocked.labeling.audio(turn) != stocked.labeling.audio(turn)
