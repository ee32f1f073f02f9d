"""The DynamoDB key design: every table, its keys, its indexes and its TTL attribute, in one place.

`insideout dynamodb create-tables`, the start-time check and the CDK stack (deploy/aws) all read TABLES, so
the tables a deployment creates are the ones the backend (insideout.db.dynamodb) queries. docs/dynamodb.md
lists every access pattern against these keys.

Why the keys are what they are:
- clips: a control clip is picked at random without a scan through the sparse `pick` index: an active clip
  carries pick_key = "<pool>#<shard>" (one of PICK_SHARDS, chosen at random when it is added) and a random
  sort key `rnd`, drawn again each time the clip is served. A pick queries one shard from a random point.
  Retiring a clip removes pick_key, so retired clips are not in the index at all. The shards spread the
  play pool's reads and writes (every serve rewrites `rnd`) over several index partitions.
- clips: the unverified clip that needs votes most comes from the sparse `need` index (need_key on active
  unverified clips, sorted by their counted votes), which the vote transaction's atomic counter moves.
- challenges hold their rounds and slots in one item: reading one is one GetItem, answering one is one
  conditional update (state and round), and they expire by TTL. What analytics keep is written apart, in
  `rounds`, which has no TTL.
- clips: the sparse `tallied` index holds every clip that has a counted vote or is not a play clip, with
  its counters: the tallies the consensus and the dashboard read, without a scan.
- votes live in their clip's partition (a tally is one Query), beside one guard item per voter (a counted
  vote is a conditional write on it) and one counter per network (the per-network cap, a conditional add).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..emotions import EMOTION_IDS

PICK_SHARDS = 4  # index partitions per pool for random picks; more spread a big pool's load, fewer empty shards
DEFAULT_PREFIX = "insideout-"
# A clip's counted votes per emotion are atomic counters on its item, v_<emotion>; the tallied index carries them.
TALLY_ATTRIBUTES = ("pool", "label", "label_source", "retired", "intended_emotion", "counted",
                    *(f"v_{e}" for e in EMOTION_IDS))


@dataclass(frozen=True)
class Key:
    name: str
    type: str  # "S" or "N"


@dataclass(frozen=True)
class Index:
    name: str
    pk: Key
    sk: Key | None
    projection: tuple[str, ...] | None = None  # the attributes an INCLUDE projection carries; None: keys only


@dataclass(frozen=True)
class Table:
    name: str  # without the deployment's prefix
    pk: Key
    sk: Key | None = None
    indexes: tuple[Index, ...] = ()
    ttl: str | None = None  # the attribute DynamoDB expires items by (epoch seconds)
    purpose: str = ""

    def full_name(self, prefix: str) -> str:
        return prefix + self.name


TABLES: tuple[Table, ...] = (
    Table("clips", Key("id", "N"), indexes=(
        Index("pick", Key("pick_key", "S"), Key("rnd", "N"), ("label", "served")),
        Index("need", Key("need_key", "S"), Key("counted", "N")),
        Index("tallied", Key("tallied", "S"), Key("id", "N"), TALLY_ATTRIBUTES),
    ), purpose="one item per clip: pool, label, provenance, served count, counted votes per emotion"),
    Table("challenges", Key("id", "S"), indexes=(
        Index("by_client", Key("client", "S"), Key("created_at", "N"), ("state", "round", "rounds_passed", "method")),
    ), ttl="ttl", purpose="one item per challenge with its rounds and slots; expires by TTL"),
    Table("tokens", Key("jti", "S"), ttl="ttl", purpose="pass tokens, spent by a conditional update; expire by TTL"),
    Table("votes", Key("clip_id", "N"), Key("sk", "S"), indexes=(
        Index("by_voter", Key("voter", "S"), Key("sk", "S"), ("challenge_id",)),
    ), purpose="a clip's votes (sk v#...), its voters' guards (sk voter#...) and networks' counters (sk net#...)"),
    Table("rounds", Key("challenge_id", "S"), Key("round_no", "N"),
          purpose="answered rounds and closed challenges, kept for the dashboard after the challenge expires"),
    Table("sites", Key("pk", "S"), ttl="ttl",
          purpose="sites (site#key) with guards on name#... and secret#..., and siteverify's answers (verify#...)"),
    Table("admin", Key("pk", "S"), Key("sk", "N"),
          purpose="jobs, model versions, bot lab evaluations, id counters, the active model and schema version"),
    Table("limits", Key("key", "S"), ttl="ttl", purpose="rate-limit windows shared by every replica"),
)
TABLE = {t.name: t for t in TABLES}


def create_table_request(table: Table, prefix: str) -> dict:
    """The CreateTable request of one table (on-demand capacity)."""
    attributes = {table.pk.name: table.pk.type}
    if table.sk:
        attributes[table.sk.name] = table.sk.type
    for index in table.indexes:
        attributes[index.pk.name] = index.pk.type
        if index.sk:
            attributes[index.sk.name] = index.sk.type
    request = {
        "TableName": table.full_name(prefix),
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
        "KeySchema": _key_schema(table.pk, table.sk),
        "BillingMode": "PAY_PER_REQUEST",
    }
    if table.indexes:
        request["GlobalSecondaryIndexes"] = [
            {"IndexName": i.name, "KeySchema": _key_schema(i.pk, i.sk), "Projection": _projection(i)}
            for i in table.indexes
        ]
    return request


def _key_schema(pk: Key, sk: Key | None) -> list[dict]:
    schema = [{"AttributeName": pk.name, "KeyType": "HASH"}]
    if sk:
        schema.append({"AttributeName": sk.name, "KeyType": "RANGE"})
    return schema


def _projection(index: Index) -> dict:
    if index.projection is None:
        return {"ProjectionType": "KEYS_ONLY"}
    return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(index.projection)}
