"""The dashboard's counts on DynamoDB: the same counts insideout.db.analytics makes in SQL, made by reading the
tables that hold them (a scan with a projection, paged) and counting here.

What is read: `rounds` (answered rounds and closed challenges, kept without TTL, so pass rates outlive the
challenges), `votes` records, clip labels, and the challenges still open. An admin's refresh reads them
whole, which costs about one read unit per 8 KB of those items (eventually consistent reads are not used:
the dashboard must agree with what was just written); a visitor's request never does.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from .analytics import CONFUSION_BASES
from .challenges import CHALLENGE_FAILED, CHALLENGE_OPEN, CHALLENGE_PASSED
from .dynamo_client import Dynamo


def _answered(d: Dynamo) -> list[dict[str, Any]]:
    """Answered rounds (round_no 0 is a challenge passed by proof of work: it had no round)."""
    return [r for r in d.scan("rounds") if r["round_no"] >= 1]


def _vote_records(d: Dynamo, counted_only: bool = False) -> list[dict[str, Any]]:
    if counted_only:
        found = d.scan("votes", "begins_with(sk, :v) AND counted = :one", {":v": "v#", ":one": 1})
    else:
        found = d.scan("votes", "begins_with(sk, :v)", {":v": "v#"})
    return sorted(found, key=lambda r: (r["created_at"], r["sk"]))


def _clip_fields(d: Dynamo) -> dict[int, dict[str, Any]]:
    fields = "id, intended_emotion, label, label_source"
    return {c["id"]: c for c in d.scan("clips", projection=fields)}


def counted_vote_sequences(d: Dynamo) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for v in sorted(_vote_records(d, counted_only=True), key=lambda r: (r["clip_id"], r["created_at"], r["sk"])):
        out.setdefault(v["clip_id"], []).append(v["emotion"])
    return out


def counted_votes(d: Dynamo) -> list[tuple[int, str, str]]:
    found = sorted(_vote_records(d, counted_only=True), key=lambda r: (r["clip_id"], r["created_at"], r["sk"]))
    return [(v["clip_id"], v["voter"], v["emotion"]) for v in found]


def vote_totals(d: Dynamo, since: float) -> tuple[int, int, int]:
    found = _vote_records(d)
    return len(found), sum(1 for v in found if v.get("counted")), sum(1 for v in found if v["created_at"] >= since)


def confusion_counts(d: Dynamo, by: str) -> list[tuple[str, str, int]]:
    if by not in CONFUSION_BASES:
        raise ValueError(f"unknown basis {by!r}; expected one of {', '.join(CONFUSION_BASES)}")
    clips = _clip_fields(d)
    if by == "votes":
        pairs = Counter((clips.get(v["clip_id"], {}).get("intended_emotion"), v["emotion"])
                        for v in _vote_records(d, counted_only=True))
    else:
        pairs = Counter((c.get("intended_emotion"), c.get("label")) for c in clips.values()
                        if c.get("label_source") == "consensus")
    return sorted((i, crowd, n) for (i, crowd), n in pairs.items() if i is not None)


def challenge_counts(d: Dynamo) -> dict[str, int]:
    closed = Counter(r["outcome"] for r in d.scan("rounds", "attribute_exists(outcome)", projection="outcome"))
    still_open = sum(1 for _ in d.scan("challenges", "#st = :o", {":o": CHALLENGE_OPEN}, {"#st": "state"},
                                       projection="id"))
    counts = {CHALLENGE_OPEN: still_open, CHALLENGE_PASSED: closed[CHALLENGE_PASSED],
              CHALLENGE_FAILED: closed[CHALLENGE_FAILED]}
    return {state: n for state, n in counts.items() if n}


def round_totals(d: Dynamo) -> tuple[int, int]:
    rounds = _answered(d)
    return len(rounds), sum(bool(r["passed"]) for r in rounds)


def rounds_by_control_label(d: Dynamo) -> dict[str, tuple[int, int]]:
    labels = {i: c.get("label") for i, c in _clip_fields(d).items()}
    totals: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for r in _answered(d):
        if r.get("control_clip") in labels:  # the SQL joins the control slot to its clip row
            entry = totals[labels[r["control_clip"]]]
            entry[0] += 1
            entry[1] += bool(r["passed"])
    return {label: (n, p) for label, (n, p) in totals.items()}


def rounds_by_number(d: Dynamo) -> list[tuple[int, int, int]]:
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for r in _answered(d):
        totals[r["round_no"]][0] += 1
        totals[r["round_no"]][1] += bool(r["passed"])
    return [(n, a, p) for n, (a, p) in sorted(totals.items())]


def answered_span(d: Dynamo) -> tuple[float, float] | None:
    times = [r["answered_at"] for r in _answered(d)]
    return (min(times), max(times)) if times else None


def rounds_per_period(d: Dynamo, bucket_s: int) -> list[tuple[float, int, int, int]]:
    totals: dict[tuple[float, int], list[int]] = defaultdict(lambda: [0, 0])
    for r in _answered(d):
        entry = totals[(float(int(r["answered_at"] / bucket_s) * bucket_s), r["round_no"])]
        entry[0] += 1
        entry[1] += bool(r["passed"])
    return [(t, n, a, p) for (t, n), (a, p) in sorted(totals.items())]


def pass_counts_by_policy(d: Dynamo) -> list[tuple[int, int, int, int]]:
    totals: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for r in d.scan("rounds", "attribute_exists(outcome)"):
        totals[(r["rounds_to_pass"], r["max_rounds"])][r["outcome"] == CHALLENGE_FAILED] += 1
    for c in d.scan("challenges", "#st = :o", {":o": CHALLENGE_OPEN}, {"#st": "state"},
                    projection="rounds_to_pass, max_rounds"):
        totals[(c["rounds_to_pass"], c["max_rounds"])]  # an open challenge's policy is listed, with no outcome
    return [(k, n, passed, failed) for (k, n), (passed, failed) in sorted(totals.items())]


def all_votes(d: Dynamo) -> list[dict[str, Any]]:
    columns = ("clip_id", "voter", "emotion", "counted", "why_not_counted", "source", "challenge_id", "round_no",
               "created_at", "network")
    return [{"id": v["sk"][2:]} | {c: v.get(c) for c in columns} for v in _vote_records(d)]
