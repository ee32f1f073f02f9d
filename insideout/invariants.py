"""The engine's invariants, checked from outside: what must hold of the metadata and the audio store together
after any run, crash or load (the load test, the fault tests and the state machine all ask this one module).

- tallies (db.tallies()) equal the raw counted votes (db.all_votes());
- every clip row's audio exists in the pool its row names (store_pool);
- every audio file in the store has a row naming that pool, and no clip's audio lies in two pools;
- settled: no clip in transit (its pool differs from the pool its audio is in);
- and, for a load test, every acknowledged answer was stored with its votes (lost_votes).

Only Metadata and AudioStore protocol methods are used, so any backend (SQLite, DynamoDB, local disk, S3) can be
checked. Pure reads: a check never repairs (Library.repair does). Violations name clip ids and audio names:
they are for the operator, never for a client.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .db import POOLS
from .db.protocol import Metadata
from .storage import AudioStore

TALLY = "tally"
AUDIO_MISSING = "audio_missing"
ORPHAN_AUDIO = "orphan_audio"
TWO_POOLS = "two_pools"
IN_TRANSIT = "in_transit"
ANSWER_LOST = "answer_lost"
VOTE_LOST = "vote_lost"


@dataclass(frozen=True)
class Violation:
    kind: str  # one of the constants above
    detail: str  # what and where, for a person


@dataclass(frozen=True)
class Acknowledged:
    """An answer the server acknowledged (2xx): the round it answered and what was sent for each slot."""

    challenge_id: str
    round_no: int
    answers: Mapping[str, str]


def check(db: Metadata, store: AudioStore, *, settled: bool = True, grace_s: float = 0.0) -> list[Violation]:
    """Every engine invariant over the whole library; an empty list when all hold.

    settled: also require that no clip is in transit (after a repair, or with no writer running). Without it, a
    half-done move is allowed its second copy in the clip's destination pool. grace_s: audio files younger than
    this are not reported as unreferenced or as a second copy (a writer puts the audio before its row, and
    another replica or an import may be writing); ages are the store's listing(pool)'s."""
    # The store is listed, then the rows read: not one snapshot. Meant for a library no writer is changing (after
    # the server stopped, or between a state machine's steps); with writers running, a clip added, moved or
    # deleted between the two reads can be reported, young files aside (grace_s).
    listed: dict[str, dict[str, float]] = {pool: dict(store.listing(pool)) for pool in POOLS}
    rows = db.clips()
    return [*tally_violations(db), *_store_violations(rows, listed, settled, grace_s, time.time())]


def tally_violations(db: Metadata) -> list[Violation]:
    """Each clip's tally equals the count of its counted votes, emotion by emotion."""
    raw: dict[int, Counter[str]] = defaultdict(Counter)
    for vote in db.all_votes():
        if vote["counted"]:
            raw[vote["clip_id"]][vote["emotion"]] += 1
    tallied = {t["clip_id"]: dict(t["votes"]) for t in db.tallies()}
    out = []
    for clip_id in sorted(set(raw) | set(tallied)):
        want, got = dict(raw.get(clip_id, {})), tallied.get(clip_id, {})
        if want != got:
            where = "no tally" if clip_id not in tallied else f"tally {got}"
            out.append(Violation(TALLY, f"clip {clip_id}: counted votes {want}, {where}"))
    return out


def _store_violations(rows: list[dict[str, Any]], listed: dict[str, dict[str, float]], settled: bool,
                      grace_s: float, now: float) -> list[Violation]:
    out = []
    by_name = {r["audio_name"]: r for r in rows}
    for r in rows:
        moving = r["pool"] != r["store_pool"]
        if moving and settled:
            out.append(Violation(IN_TRANSIT, f"clip {r['id']}: in {r['pool']}, its audio still in {r['store_pool']}"))
        if r["audio_name"] not in listed.get(r["store_pool"], {}):
            out.append(Violation(AUDIO_MISSING, f"clip {r['id']}: no audio {r['audio_name']} in {r['store_pool']}"))

    def young(mtime: float) -> bool:
        return grace_s > 0 and now - mtime < grace_s

    for pool in POOLS:
        for name, mtime in sorted(listed.get(pool, {}).items()):
            r = by_name.get(name)
            if r is not None and pool == r["store_pool"]:
                continue
            if r is not None and pool == r["pool"]:
                continue  # a move's copy made before the row was repointed (in_transit reports it when settled)
            if young(mtime):
                continue
            if r is None:
                out.append(Violation(ORPHAN_AUDIO, f"audio {name} in {pool}: no clip row"))
            elif name in listed.get(r["store_pool"], {}):
                out.append(Violation(TWO_POOLS, f"clip {r['id']}: audio {name} in {pool} and {r['store_pool']}"))
            else:
                out.append(Violation(ORPHAN_AUDIO, f"audio {name} in {pool}: clip {r['id']} names {r['store_pool']}"))
    return out


def lost_votes(db: Metadata, acknowledged: Iterable[Acknowledged]) -> list[Violation]:
    """Every acknowledged answer left its round answered as sent, and a vote row for each slot that held an
    unverified clip (not the control, not a decoy), whatever the control's answer (a wrong control keeps the
    vote, uncounted). Counting is not checked here: whether a vote counts is the store's rule, and tallies are."""
    out = []
    by_challenge: dict[str, list[Acknowledged]] = defaultdict(list)
    for ack in acknowledged:
        by_challenge[ack.challenge_id].append(ack)
    if not by_challenge:
        return out
    votes: dict[tuple[str, int, int], list[str]] = defaultdict(list)
    for v in db.all_votes():
        if v.get("challenge_id") in by_challenge:
            votes[(v["challenge_id"], v["round_no"], v["clip_id"])].append(v["emotion"])
    for challenge_id, acks in by_challenge.items():
        slots = db.challenge_slots(challenge_id)
        for ack in acks:
            held = {s.slot: s for s in slots if s.round_no == ack.round_no}
            for slot_name, sent in sorted(ack.answers.items()):
                s = held.get(slot_name)
                if s is None or s.answer != sent:
                    stored = "no such slot" if s is None else f"stored {s.answer!r}"
                    out.append(Violation(ANSWER_LOST, f"challenge {challenge_id} round {ack.round_no} slot "
                                                      f"{slot_name}: sent {sent!r}, {stored}"))
                    continue
                if s.is_control or s.is_decoy:
                    continue
                if sent not in votes.get((challenge_id, ack.round_no, s.clip_id), []):
                    out.append(Violation(VOTE_LOST, f"challenge {challenge_id} round {ack.round_no}: "
                                                    f"no vote {sent!r} on clip {s.clip_id}"))
    return out
