"""insideout.invariants against a real SQLite file and a real LocalStore: a healthy library passes, and each
invariant, broken for real (a file deleted, a stray copy, a half-done move, a row deleted by another writer,
a database restored from an earlier copy), is reported as what it is."""

from __future__ import annotations

import os
import sqlite3
import time

import pytest

from insideout.invariants import (
    ANSWER_LOST,
    AUDIO_MISSING,
    IN_TRANSIT,
    ORPHAN_AUDIO,
    TALLY,
    TWO_POOLS,
    VOTE_LOST,
    Acknowledged,
    check,
    lost_votes,
)
from insideout.storage import new_audio_name
from tests.conftest import sqlite_only, tone, wav_bytes
from tests.helpers import answers

CLIENT = "198.51.100.7"



pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite, then on DynamoDB

def kinds(violations) -> list[str]:
    return sorted(v.kind for v in violations)


def answer_round(services, right: bool = True, client: str = CLIENT) -> Acknowledged:
    """Open a challenge and answer its first round as a visitor would; the acknowledgement the visitor keeps."""
    view = services.captcha.create(client)
    given = answers(services, view.challenge_id, right=right, vote="sad")
    services.captcha.answer(view.challenge_id, given, client)
    return Acknowledged(view.challenge_id, view.round, given)


def raw_connection(services) -> sqlite3.Connection:
    """Another writer on the same file, as the sqlite3 shell is: foreign keys not enforced."""
    return sqlite3.connect(services.settings.db_path, isolation_level=None)


def test_a_healthy_library_with_votes_passes_every_invariant(stocked):
    acks = [answer_round(stocked, right=i % 2 == 0, client=f"198.51.100.{i}") for i in range(6)]
    assert any(v["counted"] for v in stocked.db.all_votes())
    assert check(stocked.db, stocked.store) == []
    assert lost_votes(stocked.db, acks) == []


def test_a_clip_whose_audio_file_was_deleted_is_reported_missing(stocked):
    clip = stocked.db.get_clip(stocked.clip_ids["play"][0])
    stocked.store.delete("play", clip["audio_name"])
    found = check(stocked.db, stocked.store)
    assert kinds(found) == [AUDIO_MISSING]
    assert str(clip["id"]) in found[0].detail


def test_an_audio_file_without_a_row_is_an_orphan(stocked):
    stocked.store.put("unverified", new_audio_name(), wav_bytes(tone(5)))
    assert kinds(check(stocked.db, stocked.store)) == [ORPHAN_AUDIO]


def test_an_old_orphan_is_reported_even_inside_a_grace_period_and_a_young_one_is_not(stocked):
    young, old = new_audio_name(), new_audio_name()
    stocked.store.put("play", young, wav_bytes(tone(6)))
    stocked.store.put("play", old, wav_bytes(tone(7)))
    two_hours_ago = time.time() - 7200
    os.utime(stocked.settings.audio_dir / "play" / f"{old}.wav", (two_hours_ago, two_hours_ago))
    found = check(stocked.db, stocked.store, grace_s=3600)
    assert kinds(found) == [ORPHAN_AUDIO]
    assert old in found[0].detail
    assert kinds(check(stocked.db, stocked.store)) == [ORPHAN_AUDIO, ORPHAN_AUDIO]


def test_a_clip_whose_audio_lies_in_two_pools_is_reported(stocked):
    clip = stocked.db.get_clip(stocked.clip_ids["play"][1])
    stocked.store.copy("play", "learning", clip["audio_name"])
    assert kinds(check(stocked.db, stocked.store)) == [TWO_POOLS]


def test_a_half_done_move_is_allowed_unsettled_and_reported_settled(stocked):
    clip_id = stocked.clip_ids["unverified"][0]
    clip = stocked.db.get_clip(clip_id)
    # The move's first steps: the row names the new pool and the audio is copied there, not yet repointed.
    assert stocked.db.set_pool(clip_id, "unverified", "learning", time.time(), "calm", "consensus")
    stocked.store.copy("unverified", "learning", clip["audio_name"])
    assert check(stocked.db, stocked.store, settled=False) == []
    assert kinds(check(stocked.db, stocked.store)) == [IN_TRANSIT]
    stocked.library.settle_audio(clip_id)
    assert check(stocked.db, stocked.store) == []


@sqlite_only  # rows changed behind the store's back, in the SQLite file
def test_counted_votes_on_a_clip_row_another_writer_deleted_break_the_tallies(stocked):
    ack = answer_round(stocked, right=True)
    counted = [v for v in stocked.db.all_votes() if v["counted"]]
    assert counted and counted[0]["challenge_id"] == ack.challenge_id
    clip_id = counted[0]["clip_id"]
    audio_name = stocked.db.get_clip(clip_id)["audio_name"]
    conn = raw_connection(stocked)
    conn.execute("DELETE FROM slots WHERE clip_id = ?", [clip_id])
    conn.execute("DELETE FROM clips WHERE id = ?", [clip_id])
    conn.close()
    found = check(stocked.db, stocked.store)
    assert kinds(found) == [ORPHAN_AUDIO, TALLY]
    assert f"clip {clip_id}" in next(v.detail for v in found if v.kind == TALLY)
    assert audio_name in next(v.detail for v in found if v.kind == ORPHAN_AUDIO)


@sqlite_only  # rows changed behind the store's back, in the SQLite file
def test_an_acknowledged_answer_lost_by_restoring_an_earlier_copy_of_the_database_is_reported(stocked, tmp_path):
    from insideout.db import Database

    first = answer_round(stocked, client="198.51.100.1")
    view = stocked.captcha.create(CLIENT)
    earlier = tmp_path / "earlier.db"
    with sqlite3.connect(stocked.settings.db_path) as src, sqlite3.connect(earlier) as dst:
        src.backup(dst)  # a backup taken before the next answer: restoring it loses that answer
    given = answers(stocked, view.challenge_id, right=True, vote="sad")
    stocked.captcha.answer(view.challenge_id, given, CLIENT)
    second = Acknowledged(view.challenge_id, view.round, given)
    assert lost_votes(stocked.db, [first, second]) == []
    restored = Database(earlier)
    found = lost_votes(restored, [first, second])
    assert kinds(found) == [ANSWER_LOST] * len(given)
    assert all(view.challenge_id in v.detail for v in found)


@sqlite_only  # rows changed behind the store's back, in the SQLite file
def test_a_vote_row_deleted_after_its_answer_was_acknowledged_is_reported_lost(stocked):
    ack = answer_round(stocked, right=False)
    assert lost_votes(stocked.db, [ack]) == []
    conn = raw_connection(stocked)
    conn.execute("DELETE FROM votes WHERE challenge_id = ?", [ack.challenge_id])
    conn.close()
    assert kinds(lost_votes(stocked.db, [ack])) == [VOTE_LOST]
