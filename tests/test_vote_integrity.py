"""Vote integrity against Sybil bots: the cap on one network's counted votes per clip (identity.network_of,
db/votes.py under INSIDEOUT_VOTES_PER_NETWORK), the bot lab's Sybil with an address per network, and the
fine-tune that refuses a batch whose labels single-use identities wrote (retraining.judge_batch).

Real SQLite files throughout; the Sybil plays a real server on loopback over a small starter library (3 clips
per emotion), built once for the module, as in test_botlab_arena."""

from __future__ import annotations

import ipaddress
import threading
import time
from pathlib import Path

import pytest
from conftest import make_settings, stock

from insideout.botlab.arena import Arena
from insideout.botlab.attackers import ATTACKERS, SYBIL_LABEL
from insideout.botlab.attackers.random_guess import RandomGuesser
from insideout.botlab.attackers.sybil import SybilVoter
from insideout.botlab.evaluation import UNDEFENDED, Configuration, Identities, deployment, play_cell
from insideout.corpus.starter import StarterConfig
from insideout.db import Database, Vote
from insideout.identity import network_of
from insideout.retraining import SUSPECT_SHARE_LIMIT, BatchRefused, RetrainError, is_suspect, judge_batch
from insideout.services import build_services

SMALL = StarterConfig(clips_per_emotion=3, unverified_share=0.34)  # 2 play + 1 unverified per emotion



pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite, then on DynamoDB

@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("library-cache")


def new_db(tmp_path: Path, cap: int) -> tuple[Database, list[int]]:
    """A database with three unverified clip rows (no audio: votes only need the rows)."""
    db = Database(tmp_path / "votes.db", votes_per_network=cap)
    ids = [db.insert_clip({"audio_name": f"c{i}.wav", "pool": "unverified", "store_pool": "unverified",
                           "source": "test", "duration_s": 1.0, "sha256": "0" * 64, "created_at": 0.0,
                           "updated_at": 0.0}) for i in range(3)]
    return db, ids


def vote(clip_id: int, voter: str, right: bool = True, challenge: str | None = None) -> Vote:
    return Vote(clip_id, voter, "angry", right, "challenge", challenge or f"ch-{voter}", 1)


def why_not(db: Database) -> list[str | None]:
    return [v["why_not_counted"] for v in db.all_votes()]


# -- a voter's network ------------------------------------------------------------------------------------------


def test_a_voters_network_is_the_ipv4_24_or_the_ipv6_48_of_its_address():
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2:3::9") == "2001:db8:1::/48"
    assert network_of("::ffff:198.51.100.7") == "198.51.100.0/24"  # an IPv4 client seen through IPv6


def test_a_voter_that_is_not_an_address_has_no_network():
    assert network_of("alice") is None
    assert network_of("unknown") is None
    assert network_of("") is None


# -- the cap ----------------------------------------------------------------------------------------------------


def test_every_vote_records_its_voters_network_counted_or_not(tmp_path):
    db, (clip, *_) = new_db(tmp_path, cap=0)
    db.insert_votes([vote(clip, "10.1.2.3"), vote(clip, "2001:db8:5::1", right=False), vote(clip, "bob")], 0.0)
    assert [(v["voter"], v["network"], v["counted"]) for v in db.all_votes()] == [
        ("10.1.2.3", "10.1.2.0/24", 1), ("2001:db8:5::1", "2001:db8:5::/48", 0), ("bob", None, 1)]


def test_without_a_cap_every_address_of_one_network_counts(tmp_path):
    db, (clip, *_) = new_db(tmp_path, cap=0)
    assert db.insert_votes([vote(clip, f"10.0.0.{i}") for i in range(1, 6)], 0.0) == [True] * 5


def test_the_cap_counts_at_most_n_votes_of_one_network_on_one_clip(tmp_path):
    db, (clip, other_clip, _) = new_db(tmp_path, cap=2)
    counted = db.insert_votes([vote(clip, f"10.0.0.{i}") for i in range(1, 6)], 0.0)
    assert counted == [True, True, False, False, False]
    assert why_not(db) == [None, None, "network_cap", "network_cap", "network_cap"]
    assert db.tally(clip) == {"angry": 2}
    # another network on the same clip, and the same network on another clip, count
    assert db.insert_votes([vote(clip, "10.0.1.1"), vote(other_clip, "10.0.0.9")], 1.0) == [True, True]


def test_a_repeat_voter_whose_network_is_at_its_cap_is_refused_as_a_repeat(tmp_path):
    db, (clip, *_) = new_db(tmp_path, cap=1)
    assert db.insert_votes([vote(clip, "10.0.0.1"), vote(clip, "10.0.0.1", challenge="again"),
                            vote(clip, "10.0.0.2")], 0.0) == [True, False, False]
    assert why_not(db) == [None, "repeat_voter", "network_cap"]


def test_a_wrong_control_is_still_the_reason_when_the_network_is_at_its_cap(tmp_path):
    db, (clip, *_) = new_db(tmp_path, cap=1)
    db.insert_votes([vote(clip, "10.0.0.1"), vote(clip, "10.0.0.2", right=False)], 0.0)
    assert why_not(db) == [None, "control_wrong"]


def test_voters_that_are_not_addresses_are_not_capped(tmp_path):
    db, (clip, *_) = new_db(tmp_path, cap=1)
    names = ["alice", "bob", "carol", "dave"]
    assert db.insert_votes([Vote(clip, n, "sad", True, "labeling") for n in names], 0.0) == [True] * 4
    assert db.tally(clip) == {"sad": 4}


def test_ipv6_voters_are_grouped_by_their_48(tmp_path):
    db, (clip, *_) = new_db(tmp_path, cap=1)
    counted = db.insert_votes([vote(clip, "2001:db8:1:1::1"), vote(clip, "2001:db8:1:ffff::2"),
                               vote(clip, "2001:db8:2::1")], 0.0)
    assert counted == [True, False, True]
    assert why_not(db) == [None, "network_cap", None]


def test_concurrent_votes_from_two_threads_never_pass_the_cap(tmp_path):
    """Two writers race on every clip with addresses of one network (each its own, so the unique index has
    nothing to refuse): only the cap, checked inside the write transaction, holds them at 2 per clip."""
    db = Database(tmp_path / "race.db", votes_per_network=2)
    clips = [db.insert_clip({"audio_name": f"r{i}.wav", "pool": "unverified", "store_pool": "unverified",
                             "source": "test", "duration_s": 1.0, "sha256": "0" * 64, "created_at": 0.0,
                             "updated_at": 0.0}) for i in range(40)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(first_host: int) -> None:
        try:
            start.wait()
            for clip in clips:
                for host in range(first_host, first_host + 3):  # three each: six racing for two places
                    db.insert_votes([vote(clip, f"192.0.2.{host}")], time.time())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(h,)) for h in (1, 101)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [db.tally(clip) for clip in clips] == [{"angry": 2}] * len(clips)
    assert why_not(db).count("network_cap") == 4 * len(clips)


def test_concurrent_answers_through_the_captcha_never_pass_the_cap(tmp_path):
    """The same through Captcha.answer (its votes go in with the round's outcome, in one transaction): two
    threads answer challenges from addresses of one /24, every control right."""
    services = build_services(make_settings(tmp_path / "data", votes_per_network=1), announce=lambda _: None)
    stock(services, play=24, unverified=3)
    db = services.db

    def play(hosts: range, errors: list) -> None:
        try:
            for host in hosts:
                client = f"198.51.100.{host}"
                view = services.captcha.create(client)
                challenge = db.get_challenge(view.challenge_id)
                answers = {s.slot: (db.get_clip(s.clip_id)["label"] if s.is_control else "angry")
                           for s in challenge.slots}
                services.captcha.answer(view.challenge_id, answers, client)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    errors: list = []
    threads = [threading.Thread(target=play, args=(range(first, first + 12), errors)) for first in (1, 101)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    votes = [v for v in db.all_votes() if v["source"] == "challenge"]
    assert votes and {v["network"] for v in votes} == {"198.51.100.0/24"}
    for clip in {v["clip_id"] for v in votes}:
        assert sum(v["counted"] for v in votes if v["clip_id"] == clip) <= 1
    # (a network at its cap is no longer served the clip, so only a race brings a 'network_cap' vote here)


def test_the_setting_reaches_the_store(tmp_path):
    services = build_services(make_settings(tmp_path / "data", votes_per_network=3), announce=lambda _: None)
    assert services.db.votes_per_network == 3


# -- the bot lab's Sybils ---------------------------------------------------------------------------------------


def test_a_spread_sybil_gets_every_address_in_a_private_24_of_its_own():
    identities = Identities()
    spread = [identities.fresh(spread=True) for _ in range(1000)]
    assert len({network_of(a) for a in spread}) == 1000
    assert all(ipaddress.ip_address(a).is_private for a in spread)
    sequential = [identities.fresh() for _ in range(1000)]
    assert len({network_of(a) for a in sequential}) == 4  # 254 hosts to a /24
    assert not set(spread) & set(sequential)


def test_the_registry_has_a_spread_acoustic_sybil():
    assert "sybil-acoustic-spread" in ATTACKERS
    assert SybilVoter(lambda r: "angry", 0, RandomGuesser(0), spread=True).identity_spread == "networks"
    assert SybilVoter(lambda r: "angry", 0, RandomGuesser(0)).identity_spread is None


def capped_crowd(cap: int) -> Configuration:
    """test_botlab_arena's small crowd: one unverified clip, consensus at 3 counted votes, with a cap."""
    return Configuration(f"3-vote consensus, {cap} per network",
                         {**UNDEFENDED.changes, "consensus_min_votes": 3, "votes_per_network": cap,
                          "suspect_vote_share": 0.5}, unverified_limit=1)


def test_with_one_vote_per_network_the_sequential_sybil_no_longer_moves_the_clip_to_learning(cache):
    """sybil-every on the small crowd (without the cap it moves the clip in about 24 challenges,
    test_botlab_arena): its 100 addresses share one /24, so one of its votes counts and the clip stays."""
    crowd = capped_crowd(1)
    with deployment(crowd, (1, 3), SMALL, cache) as d, d.client() as http:
        cell = play_cell(Arena(http), d.services, ATTACKERS["sybil-every"](0), 100, 0, Identities(), crowd.name,
                         (1, 3))
        learning = d.services.db.clips("learning")
        votes = d.services.db.all_votes()
    assert cell.learned_with_its_label == 0 and learning == []
    assert sum(v["counted"] for v in votes) == 1
    assert cell.clients == 100 and cell.counted_votes == 1  # the server's count, which the report now reads
    # once its /24 has its one counted vote on the clip, its addresses are served decoys beside the control
    # instead (a vote that could not count is not asked for)
    assert "network_cap" not in {v["why_not_counted"] for v in votes}


def test_a_spread_sybil_passes_the_cap_and_its_batch_is_refused_for_training(cache):
    """The cap cannot group addresses of many networks: the spread Sybil moves the clip with its label. The
    fine-tune then refuses the batch: its every counted vote came from a single-use address."""
    crowd = capped_crowd(1)
    spread_sybil = SybilVoter(lambda r: SYBIL_LABEL, 0, RandomGuesser(1), plant="every", spread=True)
    with deployment(crowd, (1, 3), SMALL, cache) as d, d.client() as http:
        cell = play_cell(Arena(http), d.services, spread_sybil, 200, 0, Identities(), crowd.name, (1, 3))
        learning = [row["id"] for row in d.services.db.clips("learning")]
        verdict = d.services.retraining.judge_batch(learning)
        with pytest.raises(BatchRefused, match="single-use") as refused:
            d.services.retraining.start()
        assert d.services.db.active_jobs("train") == []
    assert cell.learned_with_its_label == 1
    assert verdict.refused and verdict.suspect_share == 1.0 and verdict.votes >= 3
    assert isinstance(refused.value, RetrainError)  # what the admin panel shows as "Training not started: ..."


# -- the refusal rule -------------------------------------------------------------------------------------------


def batch(*groups: tuple[int, int, int]) -> tuple[list[dict], dict[str, int]]:
    """(voters, votes each, challenges each voter ever voted in) per group -> the batch's counted votes and
    the voters' histories. Voters are benchmark-range addresses (198.18.0.0/15), or signed-in names where
    the history is 0 (no challenges)."""
    votes, history = [], {}
    for g, (voters, each, challenges) in enumerate(groups):
        for i in range(voters):
            voter = f"user-{g}-{i}" if challenges == 0 else str(ipaddress.ip_address("198.18.0.0") + 1000 * g + i)
            history[voter] = challenges
            votes += [{"voter": voter, "clip_id": k} for k in range(each)]
    return votes, history


def test_a_single_use_address_is_suspect_a_returning_one_or_a_signed_in_name_is_not():
    assert is_suspect("10.0.0.1", 1)
    assert is_suspect("10.0.0.1", 0)  # votes but none in a challenge: still an address with no history
    assert not is_suspect("10.0.0.1", 2)
    assert not is_suspect("alice", 0)


def test_a_batch_whose_votes_single_use_addresses_cast_is_refused():
    votes, history = batch((480, 1, 1))  # the Sybil: every address once
    verdict = judge_batch(votes, history)
    assert verdict.refused and verdict.suspect_votes == verdict.votes == 480 and verdict.suspect_voters == 480


def test_an_ordinary_crowd_with_first_time_visitors_among_returning_ones_and_labelers_is_not_refused():
    # 150 returning visitors (2-3 challenges), 40% of votes from first-time visitors, 5 signed-in labelers
    votes, history = batch((100, 2, 2), (50, 1, 3), (200, 1, 1), (5, 10, 0))
    verdict = judge_batch(votes, history)
    assert verdict.suspect_share == 0.4 < SUSPECT_SHARE_LIMIT and not verdict.refused


def test_a_batch_exactly_at_the_limit_is_not_refused_and_one_vote_over_it_is():
    votes, history = batch((50, 1, 1), (50, 1, 2))
    assert judge_batch(votes, history).suspect_share == 0.5 and not judge_batch(votes, history).refused
    votes, history = batch((51, 1, 1), (49, 1, 2))
    assert judge_batch(votes, history).refused


def test_a_batch_without_counted_votes_is_not_refused():
    assert not judge_batch([], {}).refused


def test_the_limit_is_the_setting_and_a_limit_of_one_never_refuses(tmp_path):
    services = build_services(make_settings(tmp_path / "data", suspect_vote_share=1.0), announce=lambda _: None)
    assert services.retraining.suspect_share_limit == 1.0
    votes, history = batch((480, 1, 1))
    assert not judge_batch(votes, history, limit=1.0).refused


def test_the_fine_tune_refuses_a_sybils_batch_and_starts_on_a_crowds(tmp_path):
    """On a real store: a clip the Sybil's single-use addresses decided is refused; once its voters come back
    (a vote in a second challenge each), the same batch is a returning crowd's and is judged fit."""
    settings = make_settings(tmp_path / "data", retrain_threshold=1, suspect_vote_share=0.5)
    services = build_services(settings, announce=lambda _: None)
    ids = stock(services, play=8, unverified=2)
    clip, later = ids["unverified"]
    voters = [f"10.{i}.0.1" for i in range(1, 11)]
    services.db.insert_votes([vote(clip, v) for v in voters], time.time())
    assert services.library.move(clip, "unverified", "learning", "angry", "consensus")
    assert services.retraining.maybe_start() is None  # the threshold's start logs the refusal, raises nothing
    with pytest.raises(BatchRefused, match=r"10 of their 10 counted votes \(100%"):
        services.retraining.start()
    services.db.insert_votes([vote(later, v, challenge=f"second-{v}") for v in voters], time.time())
    assert not services.retraining.judge_batch([clip]).refused


def test_a_visitor_is_not_served_a_clip_whose_cap_their_network_has_reached(tmp_path):
    services = build_services(make_settings(tmp_path / "data", votes_per_network=1))
    a, b = stock(services, play=8, unverified=2)["unverified"]
    services.db.insert_votes([Vote(a, "198.51.100.1", "sad", True, "challenge")], time.time())
    neighbour, stranger = "198.51.100.2", "203.0.113.5"
    assert {services.db.pick_unverified([], neighbour) for _ in range(20)} == {b}
    assert services.db.pick_unverified([b], neighbour) is None  # a vote that could not count is not asked for
    assert services.db.pick_unverified([b], stranger) == a  # another network still may vote on it
    uncapped = build_services(make_settings(tmp_path / "open", votes_per_network=0))
    c, d = stock(uncapped, play=8, unverified=2)["unverified"]
    uncapped.db.insert_votes([Vote(c, "198.51.100.1", "sad", True, "challenge")], time.time())
    assert uncapped.db.pick_unverified([d], neighbour) == c  # no cap: the neighbour's vote would count
