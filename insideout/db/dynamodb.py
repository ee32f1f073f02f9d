"""DynamoDBMetadata: Metadata kept in DynamoDB tables, so several app replicas share one state.

The key design is dynamo_tables (docs/dynamodb.md lists every access pattern). Every race the SQLite backend
settles in a transaction is settled here by a condition on the item that decides it: a round is answered
once (state and round), a token is spent once (used_at), a voter counts once per clip (its guard item), a
network stops at its cap (a conditional counter), a clip moves or retires once (its pool), a serving past the
budget retires the clip (its served count). Where several items change together (an answer with its votes,
tallies, facts and token) they change in one TransactWriteItems.

The dashboard's analytics read whole tables (dynamo_analytics): they serve an admin, never a visitor.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ..emotions import EMOTION_IDS
from ..identity import network_of
from . import dynamo_analytics
from .challenges import CHALLENGE_OPEN, CHALLENGE_PASSED
from .clips import SPENT
from .dynamo_client import Cancelled, Dynamo, Update
from .dynamo_tables import PICK_SHARDS
from .jobs import JOB_ACTIVE, JOB_FAILED, JOB_QUEUED
from .models import MODEL_EVALUATED, MODEL_TRAINING
from .records import Challenge, Conflict, RoundSlot, Slot, Vote
from .sites import KEEP_ANSWERS_S
from .votes import CONTROL_WRONG, NETWORK_CAP, REPEAT_VOTER

KEEP_CHALLENGES_S = 2 * 86_400  # past expiry, a challenge stays for the bot verdict (FAIL_COOLDOWN_S <= 1 day)
KEEP_TOKENS_S = 86_400  # past expiry, a token stays so that siteverify says "expired", not "unknown"
PICK_PAGE = 8  # candidates a pick draws among, past the excluded ones
PICK_TRIES = 8  # picks tried again when a chosen clip changed before it could be taken
NEED_PAGE = 25  # unverified clips read a request when looking for the one that needs votes most
CHECK_AT_ONCE = 4  # of the least-voted clips, how many are checked for the voter at once (each check is a read)
CLIP_GONE = "clip_gone"  # a vote on a clip deleted meanwhile: kept, not counted

CLIP_COLUMNS = ("id", "audio_name", "pool", "store_pool", "label", "label_source", "intended_emotion", "retired",
                "source", "engine", "voice", "text", "model_version", "provenance", "duration_s", "sha256",
                "created_at", "updated_at", "served")
JOB_COLUMNS = ("id", "kind", "state", "params", "progress", "total", "message", "result", "error",
               "cancel_requested", "created_at", "started_at", "finished_at", "detail")
MODEL_COLUMNS = ("id", "version", "parent_version", "path", "state", "job_id", "trained_on", "metrics", "active",
                 "consumed_at", "created_at", "finished_at")
VOTE_COLUMNS = ("id", "clip_id", "voter", "emotion", "counted", "why_not_counted", "source", "challenge_id",
                "round_no", "created_at", "network")


def _pick_key(pool: str, clip_id: int) -> str:
    return f"{pool}#{clip_id % PICK_SHARDS}"


def _defaults(row: dict[str, Any], columns: Sequence[str], **defaults: Any) -> dict[str, Any]:
    return {c: row.get(c, defaults.get(c)) for c in columns}


class DynamoDBMetadata:
    """The metadata store of one deployment (a table prefix). Thread-safe: boto3 clients are."""

    def __init__(self, prefix: str, endpoint_url: str | None = None, region: str | None = None,
                 votes_per_network: int = 0, check: bool = True, agent: str | None = None):
        self.d = Dynamo(prefix, endpoint_url, region, agent)  # agent: names a client in the User-Agent
        self.votes_per_network = votes_per_network
        if check:
            self.d.check()

    def schema_version(self) -> int:
        return int((self.d.get("admin", pk="schema", sk=0) or {}).get("version", 0))

    def close(self) -> None:
        self.d.client.close()

    def _next_id(self, counter: str) -> int:
        got = self.d.update("admin", {"pk": f"next#{counter}", "sk": 0}, Update(adds={"n": 1}), returns="UPDATED_NEW")
        return int(got["n"])

    # -- clips ----------------------------------------------------------------------------------

    def insert_clip(self, row: dict[str, Any]) -> int:
        clip_id = self._next_id("clip")
        item = {**row, "id": clip_id, "served": row.get("served", 0), "counted": 0,
                "provenance": json.dumps(row.get("provenance") or {}, sort_keys=True)}
        if not row.get("retired"):
            item |= {"pick_key": _pick_key(row["pool"], clip_id), "rnd": random.random()}
            if row["pool"] == "unverified":
                item["need_key"] = "unverified"
        if row["pool"] != "play":
            item["tallied"] = "1"
        self.d.put("clips", item, "attribute_not_exists(id)")
        return clip_id

    @staticmethod
    def _clip(item: dict[str, Any]) -> dict[str, Any]:
        row = _defaults(item, CLIP_COLUMNS, served=0)
        row["provenance"] = json.loads(row["provenance"] or "{}")
        return row

    def get_clip(self, clip_id: int) -> dict[str, Any] | None:
        item = self.d.get("clips", id=clip_id)
        return self._clip(item) if item else None

    def clips(self, pool: str | None = None, include_retired: bool = True,
              limit: int | None = None) -> list[dict[str, Any]]:
        rows = sorted((self._clip(i) for i in self.d.scan("clips")), key=lambda r: r["id"])
        rows = [r for r in rows if (pool is None or r["pool"] == pool) and (include_retired or r["retired"] is None)]
        return rows[:limit] if limit is not None else rows

    def pool_counts(self) -> dict[str, int]:
        counts = {pool: 0 for pool in ("play", "unverified", "learning")} | {"retired": 0}
        for item in self.d.scan("clips", projection="#p, retired", names={"#p": "pool"}):
            counts["retired" if item.get("retired") else item["pool"]] += 1
        return counts

    def count_pickable(self, pool: str, at_most: int | None = None) -> int:
        total = 0
        for shard in range(PICK_SHARDS):
            left = None if at_most is None else at_most - total
            total += self.d.count("clips", "pick_key = :k", {":k": f"{pool}#{shard}"}, index="pick", at_most=left)
            if at_most is not None and total >= at_most:
                return total
        return total

    def _pick(self, pool: str, exclude: set[int]) -> dict[str, Any] | None:
        """A random active clip of pool not in exclude, from the pick index (id, served); None when none."""
        point = random.random()
        for shard in random.sample(range(PICK_SHARDS), PICK_SHARDS):
            for side in (">=", "<"):
                page = self.d.query("clips", f"pick_key = :k AND rnd {side} :r", {":k": f"{pool}#{shard}", ":r": point},
                                    index="pick", limit=len(exclude) + PICK_PAGE, projection="id, served")
                candidates = [i for i in page if i["id"] not in exclude][:PICK_PAGE]
                if candidates:
                    return random.choice(candidates)
        return None

    def take_plays(self, excludes: Sequence[Iterable[int]], budget: int, now: float) -> list[int] | None:
        excludes = [set(e) for e in excludes]
        for _ in range(PICK_TRIES):
            chosen: list[dict[str, Any]] = []
            for exclude in excludes:
                pick = self._pick("play", exclude | {c["id"] for c in chosen})
                if pick is None:
                    return None
                chosen.append(pick)
            if self._serve_all(chosen, budget, now):
                return [c["id"] for c in chosen]
        return None

    def _serve_all(self, chosen: list[dict[str, Any]], budget: int, now: float) -> bool:
        """Count one serving of each chosen clip, in one transaction; False when one was moved or retired
        meanwhile. The index's `served` may lag: a serve-budget condition that fails on it is tried once more
        with the clips' counts read from the table itself."""
        for attempt in range(2):
            try:
                self.d.transact([self.d.update_op("clips", {"id": c["id"]}, self._serve(c, budget, now))
                                 for c in chosen])
                return True
            except Cancelled:
                if budget <= 0 or attempt:
                    return False
                fresh = {i["id"]: i for i in self.d.batch_get("clips", [{"id": c["id"]} for c in chosen])}
                if any(fresh.get(c["id"], {}).get("pick_key") is None for c in chosen):
                    return False  # retired, spent or gone: pick again
                chosen = [fresh[c["id"]] for c in chosen]
        return False

    @staticmethod
    def _serve(clip: dict[str, Any], budget: int, now: float) -> Update:
        """One more serving of a play clip, which must still be active in play; with a budget, conditional on
        the count it had (two servings cannot both pass the budget), retiring it when spent."""
        condition = "#pool = :play AND attribute_not_exists(retired)"
        names, values = {"#pool": "pool"}, {":play": "play"}
        if budget <= 0:
            return Update(sets={"rnd": random.random()}, adds={"served": 1}, condition=condition, names=names,
                          values=values)
        served = int(clip.get("served", 0))
        sets: dict[str, Any] = {"served": served + 1, "rnd": random.random()}
        if served + 1 >= budget:
            sets |= {"retired": SPENT, "updated_at": now, "pick_key": None}
        return Update(sets=sets, condition=condition + " AND served = :seen", names=names,
                      values=values | {":seen": served})

    def return_plays(self, clip_ids: Iterable[int], budget: int, now: float) -> None:
        for clip_id in clip_ids:
            for _ in range(PICK_TRIES):
                item = self.d.get("clips", id=clip_id)
                if item is None:
                    break
                served = int(item.get("served", 0))
                sets: dict[str, Any] = {"served": max(served - 1, 0), "updated_at": now}
                if item.get("retired") == SPENT and served - 1 < budget:
                    sets |= {"retired": None, "pick_key": _pick_key(item["pool"], clip_id), "rnd": random.random()}
                if self.d.update("clips", {"id": clip_id}, Update(sets=sets, condition="served = :seen",
                                                                  values={":seen": served})):
                    break

    def play_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(EMOTION_IDS, 0)
        for shard in range(PICK_SHARDS):
            for item in self.d.query("clips", "pick_key = :k", {":k": f"play#{shard}"}, index="pick",
                                     projection="label"):
                if item.get("label") in counts:
                    counts[item["label"]] += 1
        return counts

    def pick_unverified(self, exclude: Iterable[int], voter: str) -> int | None:
        """Fewest counted votes first (the need index is sorted by them), random among ties, skipping clips
        this voter voted on and, under a cap, clips its network has filled. Candidates are checked a few at a
        time: a visitor has usually voted on none of them, and each check is a read."""
        exclude = set(exclude)
        network = network_of(voter)
        network = network if network is not None and self.votes_per_network > 0 else None
        group: list[int] = []
        least = None
        for item in self.d.query("clips", "need_key = :k", {":k": "unverified"}, index="need", page=NEED_PAGE):
            if item["id"] in exclude:
                continue
            if least is not None and item["counted"] > least:
                found = self._first_eligible(group, voter, network)
                if found is not None:
                    return found
                group = []
            least = item["counted"]
            group.append(item["id"])
        return self._first_eligible(group, voter, network)

    def _first_eligible(self, group: list[int], voter: str, network: str | None) -> int | None:
        """A random clip of group (clips with as many counted votes) this voter may still count a vote on."""
        random.shuffle(group)
        for start in range(0, len(group), CHECK_AT_ONCE):
            chunk = group[start:start + CHECK_AT_ONCE]
            keys = [{"clip_id": c, "sk": f"voter#{voter}"} for c in chunk]
            if network is not None:
                keys += [{"clip_id": c, "sk": f"net#{network}"} for c in chunk]
            # Eventually consistent: the vote's own conditional write is what decides whether it counts.
            found = {(g["clip_id"], g["sk"]): g for g in self.d.batch_get("votes", keys, consistent=False)}
            for clip_id in chunk:
                voted = (clip_id, f"voter#{voter}") in found
                full = network is not None and \
                    found.get((clip_id, f"net#{network}"), {}).get("n", 0) >= self.votes_per_network
                if not voted and not full:
                    return clip_id
        return None

    def set_pool(self, clip_id: int, from_pool: str, to_pool: str, now: float, label: str | None = None,
                 label_source: str | None = None) -> bool:
        sets: dict[str, Any] = {"pool": to_pool, "updated_at": now, "pick_key": _pick_key(to_pool, clip_id),
                                "need_key": "unverified" if to_pool == "unverified" else None}
        if label is not None:
            sets["label"] = label
        if label_source is not None:
            sets["label_source"] = label_source
        if to_pool != "play":
            sets["tallied"] = "1"
        return bool(self.d.update("clips", {"id": clip_id}, Update(
            sets=sets, condition="#from = :from AND attribute_not_exists(retired)", names={"#from": "pool"},
            values={":from": from_pool})))

    def retire(self, clip_id: int, from_pool: str, reason: str, now: float) -> bool:
        return bool(self.d.update("clips", {"id": clip_id}, Update(
            sets={"retired": reason, "updated_at": now, "pick_key": None, "need_key": None},
            condition="#from = :from AND attribute_not_exists(retired)", names={"#from": "pool"},
            values={":from": from_pool})))

    def set_store_pool(self, clip_id: int, from_pool: str, to_pool: str) -> bool:
        return bool(self.d.update("clips", {"id": clip_id}, Update(
            sets={"store_pool": to_pool}, condition="store_pool = :from", values={":from": from_pool})))

    def clips_in_transit(self) -> list[dict[str, Any]]:
        moving = self.d.scan("clips", filter="#p <> store_pool", names={"#p": "pool"})
        return sorted((self._clip(i) for i in moving), key=lambda r: r["id"])

    def delete_clip(self, clip_id: int) -> None:
        self.d.delete("clips", {"id": clip_id})

    def delete_clip_in_pool(self, clip_id: int, pool: str) -> bool:
        return self.d.delete("clips", {"id": clip_id}, "#p = :p AND store_pool = :p", {":p": pool}, {"#p": "pool"})

    # -- challenges, rounds, slots and pass tokens ----------------------------------------------

    @staticmethod
    def _round(started_at: float, slots: list[Slot]) -> dict[str, Any]:
        return {"started_at": started_at, "slots": [
            {"slot": s.slot, "position": s.position, "clip_id": s.clip_id, "is_control": s.is_control,
             "is_decoy": s.is_decoy} for s in sorted(slots, key=lambda s: s.position)]}

    def _challenge_item(self, challenge: dict[str, Any], slots: list[Slot]) -> dict[str, Any]:
        item = {**challenge, "ttl": int(challenge["expires_at"]) + KEEP_CHALLENGES_S,
                "site": challenge.get("site", "builtin"), "method": challenge.get("method", "audio"),
                "rounds_passed": challenge.get("rounds_passed", 0), "rounds": {}}
        if slots:  # a challenge passed by the proof-of-work route has no rounds
            item["rounds"][str(challenge["round"])] = self._round(challenge["created_at"], slots)
        return item

    def create_challenge(self, challenge: dict[str, Any], slots: list[Slot]) -> None:
        if not self.d.put("challenges", self._challenge_item(challenge, slots), "attribute_not_exists(id)"):
            raise Conflict(challenge["id"])

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        item = self.d.get("challenges", id=challenge_id)
        if item is None:
            return None
        rounds = item.get("rounds", {})
        current = rounds.get(str(item["round"]), {}).get("slots", [])
        used: list[int] = []
        for round_no in sorted(rounds, key=int):
            used += [s["clip_id"] for s in rounds[round_no]["slots"] if s["clip_id"] not in used]
        return Challenge(
            id=item["id"], client=item["client"], state=item["state"], round=item["round"],
            rounds_passed=item["rounds_passed"], rounds_to_pass=item["rounds_to_pass"],
            max_rounds=item["max_rounds"], created_at=item["created_at"], expires_at=item["expires_at"],
            closed_at=item.get("closed_at"),
            slots=tuple(Slot(s["slot"], s["position"], s["clip_id"], s["is_control"], s.get("answer"),
                             s["is_decoy"]) for s in current),
            used_clip_ids=tuple(used), site=item.get("site", "builtin"), hostname=item.get("hostname"),
            action=item.get("action"), method=item.get("method", "audio"),
        )

    def challenge_slots(self, challenge_id: str) -> list[RoundSlot]:
        item = self.d.get("challenges", id=challenge_id) or {}
        return [RoundSlot(int(n), s["slot"], s["position"], s["clip_id"], s["is_control"], s.get("answer"),
                          s["is_decoy"])
                for n, r in sorted(item.get("rounds", {}).items(), key=lambda kv: int(kv[0])) for s in r["slots"]]

    def apply_answer(self, challenge: Challenge, answers: dict[str, str], round_passed: bool, new_state: str,
                     now: float, votes: list[Vote], next_slots: list[Slot] | None = None,
                     token: dict[str, Any] | None = None) -> None:
        r = f"rounds.{challenge.round}"
        sets: dict[str, Any] = {
            "state": new_state, "round": challenge.round + int(bool(next_slots)),
            "rounds_passed": challenge.rounds_passed + int(round_passed),
            "closed_at": None if new_state == CHALLENGE_OPEN else now,
            f"{r}.answered_at": now, f"{r}.passed": round_passed,
        }
        for index, slot in enumerate(sorted(challenge.slots, key=lambda s: s.position)):
            if slot.slot in answers:
                sets[f"{r}.slots[{index}].answer"] = answers[slot.slot]
        if next_slots:
            sets[f"rounds.{challenge.round + 1}"] = self._round(now, next_slots)
        answered = self.d.update_op("challenges", {"id": challenge.id}, Update(
            sets=sets, condition="#st = :open AND #rd = :round AND expires_at > :now",
            names={"#st": "state", "#rd": "round"},
            values={":open": CHALLENGE_OPEN, ":round": challenge.round, ":now": now}))
        control = next((s.clip_id for s in challenge.slots if s.is_control), None)
        fact = {"challenge_id": challenge.id, "round_no": challenge.round, "answered_at": now,
                "passed": round_passed, "control_clip": control, "rounds_to_pass": challenge.rounds_to_pass,
                "max_rounds": challenge.max_rounds, "site": challenge.site,
                "outcome": None if new_state == CHALLENGE_OPEN else new_state}
        head = [answered, self.d.put_op("rounds", fact)]
        if token:
            head.append(self.d.put_op("tokens", self._token_item(token), "attribute_not_exists(jti)"))
        try:
            self._write_votes(head, votes, now)
        except Cancelled as e:
            if e.reasons[0] == "ConditionalCheckFailed":
                raise Conflict(challenge.id) from None
            raise

    @staticmethod
    def _token_item(token: dict[str, Any]) -> dict[str, Any]:
        return {**token, "ttl": int(token["expires_at"]) + KEEP_TOKENS_S}

    def consume_token(self, jti: str, challenge_id: str, now: float) -> str:
        if self.d.update("tokens", {"jti": jti}, Update(
                sets={"used_at": now},
                condition="attribute_exists(jti) AND challenge_id = :c AND attribute_not_exists(used_at) "
                          "AND expires_at > :now",
                values={":c": challenge_id, ":now": now})):
            return "ok"
        item = self.d.get("tokens", jti=jti)
        if item is None or item["challenge_id"] != challenge_id:
            return "unknown"
        return "used" if item.get("used_at") is not None else "expired"

    def create_passed_challenge(self, challenge: dict[str, Any], token: dict[str, Any]) -> None:
        fact = {"challenge_id": challenge["id"], "round_no": 0, "answered_at": challenge["created_at"],
                "rounds_to_pass": challenge["rounds_to_pass"], "max_rounds": challenge["max_rounds"],
                "site": challenge.get("site", "builtin"), "outcome": CHALLENGE_PASSED}
        self.d.transact([
            self.d.put_op("challenges", self._challenge_item(challenge, []), "attribute_not_exists(id)"),
            self.d.put_op("tokens", self._token_item(token), "attribute_not_exists(jti)"),
            self.d.put_op("rounds", fact),
        ])

    def strikes(self, client: str, since: float) -> tuple[int, float | None]:
        rows = list(self.d.query("challenges", "client = :c AND created_at >= :s", {":c": client, ":s": since},
                                 index="by_client"))
        passes = [r["created_at"] for r in rows if r["state"] == CHALLENGE_PASSED]
        start = max([since, *passes])
        counted = [r for r in rows if r["created_at"] >= start and r.get("method", "audio") == "audio"
                   and (r["state"] != CHALLENGE_PASSED or r["created_at"] > start)]
        failed = sum((r["round"] - 1 if r["state"] == CHALLENGE_OPEN else r["round"]) - r["rounds_passed"]
                     for r in counted)
        return failed, min((r["created_at"] for r in counted), default=None)

    # -- sites ----------------------------------------------------------------------------------

    def insert_site(self, row: dict[str, Any]) -> bool:
        site = {**row, "pk": f"site#{row['sitekey']}", "origins": json.dumps(list(row["origins"])),
                "alternative": bool(row["alternative"])}
        fresh = "attribute_not_exists(pk)"
        try:
            self.d.transact([
                self.d.put_op("sites", site, fresh),
                self.d.put_op("sites", {"pk": f"name#{row['name']}", "sitekey": row["sitekey"]}, fresh),
                self.d.put_op("sites", {"pk": f"secret#{row['secret_hash']}", "sitekey": row["sitekey"]}, fresh),
            ])
        except Cancelled:
            return False  # the name, key or secret is taken
        return True

    @staticmethod
    def _site(item: dict[str, Any]) -> dict[str, Any]:
        row = {k: item.get(k) for k in ("sitekey", "name", "secret_hash", "origins", "alternative", "policy",
                                         "created_at", "secret_rotated_at")}
        return row | {"origins": json.loads(row["origins"]), "alternative": bool(row["alternative"])}

    def sites(self) -> list[dict[str, Any]]:
        found = [self._site(i) for i in self.d.scan("sites", "begins_with(pk, :s)", {":s": "site#"})]
        return sorted(found, key=lambda s: (s["created_at"], s["sitekey"]))

    def find_site(self, column: str, value: str) -> dict[str, Any] | None:
        assert column in ("sitekey", "name", "secret_hash")
        if column != "sitekey":
            guard = self.d.get("sites", pk=f"{'name' if column == 'name' else 'secret'}#{value}")
            if guard is None:
                return None
            value = guard["sitekey"]
        item = self.d.get("sites", pk=f"site#{value}")
        return self._site(item) if item else None

    def set_site_secret(self, sitekey: str, secret_hash: str, now: float) -> bool:
        site = self.d.get("sites", pk=f"site#{sitekey}")
        if site is None:
            return False
        try:
            self.d.transact([
                self.d.update_op("sites", {"pk": f"site#{sitekey}"}, Update(
                    sets={"secret_hash": secret_hash, "secret_rotated_at": now},
                    condition="secret_hash = :old", values={":old": site["secret_hash"]})),
                self.d.delete_op("sites", {"pk": f"secret#{site['secret_hash']}"}),
                self.d.put_op("sites", {"pk": f"secret#{secret_hash}", "sitekey": sitekey}, "attribute_not_exists(pk)"),
            ])
        except Cancelled:
            return False
        return True

    def delete_site(self, sitekey: str) -> bool:
        site = self.d.get("sites", pk=f"site#{sitekey}")
        if site is None:
            return False
        try:
            self.d.transact([
                self.d.delete_op("sites", {"pk": f"site#{sitekey}"}, "attribute_exists(pk)"),
                self.d.delete_op("sites", {"pk": f"name#{site['name']}"}),
                self.d.delete_op("sites", {"pk": f"secret#{site['secret_hash']}"}),
            ])
        except Cancelled:
            return False
        return True

    def remembered_verification(self, site: str, key: str, now: float) -> dict[str, Any] | None:
        item = self.d.get("sites", pk=f"verify#{site}#{key}")
        if item is None or item["ttl"] <= now:  # TTL removes it, but only some time after it expired
            return None
        return {"response_hash": item["response_hash"], "answer": json.loads(item["answer"])}

    def remember_verification(self, site: str, key: str, response_hash: str, answer: dict[str, Any],
                              now: float) -> bool:
        pk = f"verify#{site}#{key}"
        if self.d.put("sites", {"pk": pk, "response_hash": response_hash, "answer": json.dumps(answer),
                                "created_at": now, "ttl": now + KEEP_ANSWERS_S},
                      "attribute_not_exists(pk) OR #ttl <= :now", {":now": now}, {"#ttl": "ttl"}):
            return True
        if answer.get("success"):  # a success replaces the loser's failure for the same response, not the reverse
            self.d.update("sites", {"pk": pk}, Update(sets={"answer": json.dumps(answer)},
                                                      condition="response_hash = :h", values={":h": response_hash}))
        return False

    # -- votes and tallies ----------------------------------------------------------------------

    def insert_votes(self, votes: list[Vote], now: float) -> list[bool]:
        # One transaction per vote: votes of several voters on one clip would touch its item twice in one.
        return [self._write_votes([], [v], now)[0] for v in votes]

    def _write_votes(self, head: list[dict[str, Any]], votes: list[Vote], now: float) -> list[bool]:
        """Write head's operations and the votes in one transaction, each vote counted when it can be. A vote
        whose guard (repeat voter), network counter (cap) or clip (gone) condition fails is written again as
        not counted; a failure in head raises Cancelled with head's reasons first."""
        reasons: dict[int, str] = {}
        for i, v in enumerate(votes):
            if not v.control_correct:
                reasons[i] = CONTROL_WRONG
            elif any(w.clip_id == v.clip_id and w.voter == v.voter for w in votes[:i]):
                reasons[i] = REPEAT_VOTER
        # Sorted as written: the engine's time, then this machine's clock (votes of one instant keep their order),
        # then the vote's place in this call and a random tail (unique across replicas).
        written = time.time_ns()
        sks = [f"v#{now:020.6f}#{written:020d}#{i:03d}{uuid.uuid4().hex[:8]}" for i in range(len(votes))]
        while True:
            operations, roles = list(head), ["head"] * len(head)
            for i, v in enumerate(votes):
                network = network_of(v.voter)
                why = reasons.get(i)
                record = {"clip_id": v.clip_id, "sk": sks[i], "voter": v.voter, "emotion": v.emotion,
                          "counted": int(why is None), "why_not_counted": why, "source": v.source,
                          "challenge_id": v.challenge_id, "round_no": v.round_no, "created_at": now,
                          "network": network}
                operations.append(self.d.put_op("votes", record))
                roles.append("record")
                guard_key = {"clip_id": v.clip_id, "sk": f"voter#{v.voter}"}
                if why is not None:
                    if why != REPEAT_VOTER or not any(w.clip_id == v.clip_id and w.voter == v.voter
                                                      for w in votes[:i]):
                        operations.append(self.d.update_op("votes", guard_key, Update(sets={"seen": 1})))
                        roles.append("seen")
                    continue
                operations.append(self.d.update_op("votes", guard_key, Update(
                    sets={"seen": 1, "counted": 1}, condition="attribute_not_exists(counted)")))
                roles.append(("guard", i))
                if self.votes_per_network > 0 and network is not None:
                    operations.append(self.d.update_op("votes", {"clip_id": v.clip_id, "sk": f"net#{network}"}, Update(
                        adds={"n": 1}, condition="attribute_not_exists(n) OR n < :cap",
                        values={":cap": self.votes_per_network})))
                    roles.append(("net", i))
                operations.append(self.d.update_op("clips", {"id": v.clip_id}, Update(
                    sets={"tallied": "1"}, adds={"counted": 1, f"v_{v.emotion}": 1},
                    condition="attribute_exists(id)")))
                roles.append(("clip", i))
            try:
                self.d.transact(operations)
            except Cancelled as e:
                failed = [roles[k] for k, code in enumerate(e.reasons) if code == "ConditionalCheckFailed"]
                if any(role == "head" for role in failed) or not failed:
                    raise
                for role in failed:
                    kind, i = role
                    if kind == "guard":
                        reasons[i] = REPEAT_VOTER  # the truer reason when the network cap also failed
                    else:
                        reasons.setdefault(i, NETWORK_CAP if kind == "net" else CLIP_GONE)
                continue
            return [i not in reasons for i in range(len(votes))]

    def tally(self, clip_id: int) -> dict[str, int]:
        item = self.d.get("clips", id=clip_id) or {}
        return {e: item[f"v_{e}"] for e in EMOTION_IDS if item.get(f"v_{e}", 0) > 0}

    def _tallied(self) -> list[dict[str, Any]]:
        return list(self.d.query("clips", "tallied = :one", {":one": "1"}, index="tallied"))

    def tallies(self) -> list[dict[str, Any]]:
        out = []
        for item in self._tallied():
            votes = {e: item[f"v_{e}"] for e in EMOTION_IDS if item.get(f"v_{e}", 0) > 0}
            if item["pool"] == "play" and not votes:
                continue  # a clip that reached play without votes: the SQLite join leaves it out too
            out.append({k: item.get(k) for k in ("pool", "label", "label_source", "retired", "intended_emotion")}
                       | {"clip_id": item["id"], "votes": votes})
        return sorted(out, key=lambda t: t["clip_id"])

    def voter_has_voted(self, clip_id: int, voter: str) -> bool:
        return self.d.get("votes", clip_id=clip_id, sk=f"voter#{voter}") is not None

    def clips_with_counted_votes(self, pool: str) -> list[int]:
        return [i["id"] for i in self._tallied()
                if i["pool"] == pool and i.get("retired") is None and i.get("counted", 0) > 0]

    def _records(self, clip_id: int) -> list[dict[str, Any]]:
        """The counted vote records of a clip, oldest first."""
        values = {":c": clip_id, ":v": "v#", ":one": 1}
        return list(self.d.query("votes", "clip_id = :c AND begins_with(sk, :v)", values, filter="counted = :one"))

    def counted_votes_on(self, clip_ids: Iterable[int]) -> list[dict[str, Any]]:
        rows = [r for c in sorted(set(clip_ids)) for r in self._records(c)]
        rows.sort(key=lambda r: r["sk"])
        return [{k: r.get(k) for k in ("clip_id", "voter", "emotion", "network", "challenge_id", "source",
                                       "created_at")} for r in rows]

    def challenges_voted_in(self, voters: Iterable[str]) -> dict[str, int]:
        out = {}
        for voter in sorted(set(voters)):
            found = self.d.query("votes", "voter = :v", {":v": voter}, index="by_voter")
            out[voter] = len({r["challenge_id"] for r in found if r.get("challenge_id") is not None})
        return out

    # -- background jobs (admin items "job") ----------------------------------------------------

    @staticmethod
    def _job(item: dict[str, Any]) -> dict[str, Any]:
        row = _defaults(item, JOB_COLUMNS, progress=0, total=0, message="", cancel_requested=0)
        row["params"] = json.loads(row["params"] or "{}")
        row["result"] = json.loads(row["result"]) if row["result"] else None
        row["detail"] = json.loads(row["detail"]) if row["detail"] else None
        return row

    def create_job(self, kind: str, params: dict, now: float) -> int:
        job_id = self._next_id("job")
        self.d.put("admin", {"pk": "job", "sk": job_id, "id": job_id, "kind": kind, "state": JOB_QUEUED,
                             "params": json.dumps(params), "progress": 0, "total": 0, "message": "",
                             "cancel_requested": 0, "created_at": now})
        return job_id

    def update_job(self, job_id: int, **fields: Any) -> None:
        for key in ("result", "params", "detail"):
            if key in fields and fields[key] is not None and not isinstance(fields[key], str):
                fields[key] = json.dumps(fields[key])
        if fields and not self.d.update("admin", {"pk": "job", "sk": job_id},
                                        Update(sets=fields, condition="attribute_exists(pk)")):
            raise LookupError(f"no job {job_id}")

    def get_job(self, job_id: int) -> dict[str, Any] | None:
        item = self.d.get("admin", pk="job", sk=job_id)
        return self._job(item) if item else None

    def _jobs(self, newest_first: bool = True, limit: int | None = None) -> Iterable[dict[str, Any]]:
        return self.d.query("admin", "pk = :j", {":j": "job"}, forward=not newest_first, limit=limit)

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        return [self._job(i) for i in self._jobs(limit=limit)]

    def latest_job(self, kind: str) -> dict[str, Any] | None:
        return next((self._job(i) for i in self._jobs() if i["kind"] == kind), None)

    def active_jobs(self, kind: str) -> list[int]:
        return [i["id"] for i in self._jobs(newest_first=False) if i["kind"] == kind and i["state"] in JOB_ACTIVE]

    def request_cancel(self, job_id: int) -> bool:
        return bool(self.d.update("admin", {"pk": "job", "sk": job_id}, Update(
            sets={"cancel_requested": 1}, condition="#st IN (:q, :r)", names={"#st": "state"},
            values={":q": JOB_ACTIVE[0], ":r": JOB_ACTIVE[1]})))

    def cancel_requested(self, job_id: int) -> bool:
        return bool((self.d.get("admin", pk="job", sk=job_id) or {}).get("cancel_requested"))

    def fail_interrupted_jobs(self, now: float) -> int:
        failed = 0
        for item in [i for i in self._jobs() if i["state"] in JOB_ACTIVE]:
            failed += bool(self.d.update("admin", {"pk": "job", "sk": item["id"]}, Update(
                sets={"state": JOB_FAILED, "error": "interrupted by a restart", "finished_at": now},
                condition="#st IN (:q, :r)", names={"#st": "state"},
                values={":q": JOB_ACTIVE[0], ":r": JOB_ACTIVE[1]})))
        return failed

    # -- model versions (admin items "model"; the active one is a pointer item) -----------------

    def _model(self, item: dict[str, Any], active_id: int | None) -> dict[str, Any]:
        row = _defaults(item, MODEL_COLUMNS)
        row["trained_on"] = json.loads(row["trained_on"] or "[]")
        row["metrics"] = json.loads(row["metrics"] or "{}")
        row["active"] = row["id"] == active_id
        return row

    def _active_id(self) -> int | None:
        return (self.d.get("admin", pk="active_model", sk=0) or {}).get("model_id")

    def create_model(self, parent_version: str | None, trained_on: list[int], job_id: int | None,
                     now: float) -> int:
        model_id = self._next_id("model")
        self.d.put("admin", {"pk": "model", "sk": model_id, "id": model_id, "parent_version": parent_version,
                             "state": MODEL_TRAINING, "job_id": job_id, "trained_on": json.dumps(trained_on),
                             "metrics": "{}", "created_at": now})
        return model_id

    def update_model(self, model_id: int, **fields: Any) -> None:
        if "metrics" in fields and not isinstance(fields["metrics"], str):
            fields["metrics"] = json.dumps(fields["metrics"], sort_keys=True)
        if fields and not self.d.update("admin", {"pk": "model", "sk": model_id},
                                        Update(sets=fields, condition="attribute_exists(pk)")):
            raise LookupError(f"no model version {model_id}")

    def get_model(self, model_id: int) -> dict[str, Any] | None:
        item = self.d.get("admin", pk="model", sk=model_id)
        return self._model(item, self._active_id()) if item else None

    def models(self) -> list[dict[str, Any]]:
        active = self._active_id()
        return [self._model(i, active) for i in self.d.query("admin", "pk = :m", {":m": "model"}, forward=False)]

    def active_model(self) -> dict[str, Any] | None:
        active = self._active_id()
        return self.get_model(active) if active is not None else None

    def set_active_model(self, model_id: int | None) -> bool:
        if model_id is None:
            self.d.delete("admin", {"pk": "active_model", "sk": 0})
            return True
        try:  # one pointer item: at most one active version, and only an evaluated one
            self.d.transact([
                self.d.check_op("admin", {"pk": "model", "sk": model_id}, "#st = :e", {":e": MODEL_EVALUATED},
                                {"#st": "state"}),
                self.d.put_op("admin", {"pk": "active_model", "sk": 0, "model_id": model_id}),
            ])
        except Cancelled:
            return False
        return True

    def mark_consumed(self, model_id: int, now: float) -> None:
        self.d.update("admin", {"pk": "model", "sk": model_id}, Update(
            sets={"consumed_at": now}, condition="attribute_exists(pk) AND attribute_not_exists(consumed_at)"))

    # -- analytics (read-only, for the dashboard) -----------------------------------------------

    def counted_vote_sequences(self) -> dict[int, list[str]]:
        return dynamo_analytics.counted_vote_sequences(self.d)

    def counted_votes(self) -> list[tuple[int, str, str]]:
        return dynamo_analytics.counted_votes(self.d)

    def vote_totals(self, since: float) -> tuple[int, int, int]:
        return dynamo_analytics.vote_totals(self.d, since)

    def confusion_counts(self, by: str) -> list[tuple[str, str, int]]:
        return dynamo_analytics.confusion_counts(self.d, by)

    def challenge_counts(self) -> dict[str, int]:
        return dynamo_analytics.challenge_counts(self.d)

    def round_totals(self) -> tuple[int, int]:
        return dynamo_analytics.round_totals(self.d)

    def rounds_by_control_label(self) -> dict[str, tuple[int, int]]:
        return dynamo_analytics.rounds_by_control_label(self.d)

    def rounds_by_number(self) -> list[tuple[int, int, int]]:
        return dynamo_analytics.rounds_by_number(self.d)

    def answered_span(self) -> tuple[float, float] | None:
        return dynamo_analytics.answered_span(self.d)

    def rounds_per_period(self, bucket_s: int) -> list[tuple[float, int, int, int]]:
        return dynamo_analytics.rounds_per_period(self.d, bucket_s)

    def pass_counts_by_policy(self) -> list[tuple[int, int, int, int]]:
        return dynamo_analytics.pass_counts_by_policy(self.d)

    def all_votes(self) -> list[dict[str, Any]]:
        return dynamo_analytics.all_votes(self.d)

    # -- bot lab evaluations --------------------------------------------------------------------

    def add_bot_evaluation(self, report: dict[str, Any], now: float, job_id: int | None = None) -> int:
        evaluation_id = self._next_id("evaluation")
        self.d.put("admin", {"pk": "evaluation", "sk": evaluation_id, "id": evaluation_id, "created_at": now,
                             "report": json.dumps(report), "job_id": job_id})
        return evaluation_id

    def latest_bot_evaluation(self) -> dict[str, Any] | None:
        item = next(iter(self.d.query("admin", "pk = :e", {":e": "evaluation"}, forward=False, limit=1)), None)
        if item is None:
            return None
        return {"id": item["id"], "created_at": item["created_at"], "report": json.loads(item["report"]),
                "job_id": item.get("job_id")}
