"""Metadata in SQLite: the schema, its migrations, and the narrow set of operations the engine uses.

Every operation opens its own connection (WAL lets readers run beside the one writer) and every
multi-row change runs in one BEGIN IMMEDIATE transaction, so a crash leaves either all of it or none.
Writes that race (two answers to one round, two uses of one token) are settled by conditional
updates, the same shape a DynamoDB backend would use with condition expressions.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

POOLS = ("play", "unverified", "learning")
POOL_SIZE = 16  # idle connections kept per database

# Each entry migrates the schema from version i to i + 1; never edit a released entry, append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE clips (
        id INTEGER PRIMARY KEY,
        audio_name TEXT NOT NULL UNIQUE,
        pool TEXT NOT NULL CHECK (pool IN ('play', 'unverified', 'learning')),
        store_pool TEXT NOT NULL CHECK (store_pool IN ('play', 'unverified', 'learning')),
        label TEXT,
        label_source TEXT,
        intended_emotion TEXT,
        retired TEXT,
        source TEXT NOT NULL,
        engine TEXT,
        voice TEXT,
        text TEXT,
        model_version TEXT,
        provenance TEXT NOT NULL DEFAULT '{}',
        duration_s REAL NOT NULL,
        sha256 TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX clips_pool ON clips (pool, retired);
    CREATE INDEX clips_moving ON clips (pool, store_pool) WHERE pool != store_pool;

    CREATE TABLE challenges (
        id TEXT PRIMARY KEY,
        client TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('open', 'passed', 'failed')),
        round INTEGER NOT NULL,
        rounds_passed INTEGER NOT NULL DEFAULT 0,
        rounds_to_pass INTEGER NOT NULL,
        max_rounds INTEGER NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        closed_at REAL
    );
    CREATE INDEX challenges_created ON challenges (created_at);

    CREATE TABLE rounds (
        challenge_id TEXT NOT NULL REFERENCES challenges (id),
        round_no INTEGER NOT NULL,
        started_at REAL NOT NULL,
        answered_at REAL,
        passed INTEGER,
        PRIMARY KEY (challenge_id, round_no)
    );

    CREATE TABLE slots (
        challenge_id TEXT NOT NULL,
        round_no INTEGER NOT NULL,
        slot TEXT NOT NULL,
        position INTEGER NOT NULL,
        clip_id INTEGER NOT NULL REFERENCES clips (id),
        is_control INTEGER NOT NULL,
        answer TEXT,
        PRIMARY KEY (challenge_id, round_no, slot),
        FOREIGN KEY (challenge_id, round_no) REFERENCES rounds (challenge_id, round_no)
    );
    CREATE INDEX slots_clip ON slots (clip_id);

    CREATE TABLE votes (
        id INTEGER PRIMARY KEY,
        clip_id INTEGER NOT NULL REFERENCES clips (id),
        voter TEXT NOT NULL,
        emotion TEXT NOT NULL,
        counted INTEGER NOT NULL,
        why_not_counted TEXT,
        source TEXT NOT NULL,
        challenge_id TEXT,
        round_no INTEGER,
        created_at REAL NOT NULL
    );
    -- A voter's votes on one clip count once: the database itself refuses a second counted row.
    CREATE UNIQUE INDEX votes_counted_once ON votes (clip_id, voter) WHERE counted = 1;
    CREATE INDEX votes_tally ON votes (clip_id, counted, emotion);

    CREATE TABLE tokens (
        jti TEXT PRIMARY KEY,
        challenge_id TEXT NOT NULL REFERENCES challenges (id),
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL
    );
    """,
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        params TEXT NOT NULL DEFAULT '{}',
        progress INTEGER NOT NULL DEFAULT 0,
        total INTEGER NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        result TEXT,
        error TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        started_at REAL,
        finished_at REAL
    );
    CREATE INDEX jobs_state ON jobs (state, created_at);
    """,
    """
    CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        version TEXT,
        parent_version TEXT,
        path TEXT,
        state TEXT NOT NULL CHECK (state IN ('training', 'trained', 'evaluated', 'failed', 'cancelled')),
        job_id INTEGER,
        trained_on TEXT NOT NULL DEFAULT '[]',
        metrics TEXT NOT NULL DEFAULT '{}',
        active INTEGER NOT NULL DEFAULT 0,
        consumed_at REAL,
        created_at REAL NOT NULL,
        finished_at REAL
    );
    -- At most one active version: the database itself refuses a second.
    CREATE UNIQUE INDEX models_one_active ON models (active) WHERE active = 1;
    CREATE INDEX models_version ON models (version);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class Conflict(Exception):
    """A conditional write found the row changed under it (the other writer won)."""


@dataclass(frozen=True)
class Slot:
    slot: str
    position: int
    clip_id: int
    is_control: bool
    answer: str | None = None


@dataclass(frozen=True)
class Challenge:
    id: str
    client: str
    state: str
    round: int
    rounds_passed: int
    rounds_to_pass: int
    max_rounds: int
    created_at: float
    expires_at: float
    closed_at: float | None
    slots: tuple[Slot, ...]  # the current round's
    used_clip_ids: tuple[int, ...]  # every clip any round of this challenge has shown


@dataclass(frozen=True)
class Vote:
    clip_id: int
    voter: str
    emotion: str
    control_correct: bool
    source: str
    challenge_id: str | None = None
    round_no: int | None = None


class Database:
    """The metadata store of one data dir. Thread-safe: nothing is shared between calls."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._idle: queue.LifoQueue[sqlite_utils.Database] = queue.LifoQueue(maxsize=POOL_SIZE)
        self.migrate()

    # -- connections and transactions -------------------------------------------------------

    def connect(self) -> sqlite_utils.Database:
        conn = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable at each WAL checkpoint, safe with WAL
        return sqlite_utils.Database(conn, execute_plugins=False)

    @contextmanager
    def _checkout(self) -> Iterator[sqlite_utils.Database]:
        """A connection of this call's own. Idle connections are kept for reuse: opening one costs
        more than most queries, and closing the last one checkpoints the whole WAL."""
        try:
            db = self._idle.get_nowait()
        except queue.Empty:
            db = self.connect()
        try:
            yield db
        except BaseException:
            db.close()  # its state is unknown: do not reuse it
            raise
        if db.conn.in_transaction:
            db.close()
            return
        try:
            self._idle.put_nowait(db)
        except queue.Full:
            db.close()

    @contextmanager
    def read(self) -> Iterator[sqlite_utils.Database]:
        with self._checkout() as db:
            yield db

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction; IMMEDIATE takes the write lock up front, so no upgrade deadlock.
        Threads of this process queue on a lock first: SQLite's own busy wait sleeps in growing
        steps, which gave writers a long latency tail under load."""
        with self._write_lock, self._checkout() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.conn.execute("ROLLBACK")
                raise
            db.conn.execute("COMMIT")

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def migrate(self) -> None:
        with self._migrate_lock:
            db = self.connect()
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("BEGIN IMMEDIATE")
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    db.conn.execute("ROLLBACK")
                    raise RuntimeError(
                        f"{self.path} has schema version {version}, newer than this "
                        f"program's {SCHEMA_VERSION}: upgrade InsideOut"
                    )
                for step in range(version, SCHEMA_VERSION):
                    _run_script(db.conn, MIGRATIONS[step])
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.conn.execute("COMMIT")
            finally:
                db.close()

    def schema_version(self) -> int:
        with self.read() as db:
            return db.execute("PRAGMA user_version").fetchone()[0]

    # -- clips ---------------------------------------------------------------------------------

    def insert_clip(self, row: dict[str, Any]) -> int:
        row = dict(row)
        row["provenance"] = json.dumps(row.get("provenance") or {}, sort_keys=True)
        with self.transaction() as db:
            return db["clips"].insert(row).last_pk

    def get_clip(self, clip_id: int) -> dict[str, Any] | None:
        with self.read() as db:
            rows = list(db.query("SELECT * FROM clips WHERE id = ?", [clip_id]))
        return _clip(rows[0]) if rows else None

    def clips(
        self, pool: str | None = None, include_retired: bool = True, limit: int | None = None
    ) -> list[dict[str, Any]]:
        where, params = ["1 = 1"], []
        if pool is not None:
            where.append("pool = ?")
            params.append(pool)
        if not include_retired:
            where.append("retired IS NULL")
        sql = f"SELECT * FROM clips WHERE {' AND '.join(where)} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self.read() as db:
            return [_clip(r) for r in db.query(sql, params)]

    def pool_counts(self) -> dict[str, int]:
        counts = {pool: 0 for pool in POOLS}
        counts["retired"] = 0
        with self.read() as db:
            for r in db.query(
                "SELECT pool, retired IS NOT NULL AS retired, count(*) AS n FROM clips "
                "GROUP BY pool, retired IS NOT NULL"
            ):
                counts["retired" if r["retired"] else r["pool"]] += r["n"]
        return counts

    def count_pickable(self, pool: str) -> int:
        with self.read() as db:
            return db.execute(
                "SELECT count(*) FROM clips WHERE pool = ? AND retired IS NULL", [pool]
            ).fetchone()[0]

    def pick_control(self, exclude: Iterable[int]) -> int | None:
        """A random active play clip not in exclude."""
        exclude = list(exclude)
        with self.read() as db:
            row = db.execute(
                "SELECT id FROM clips WHERE pool = 'play' AND retired IS NULL "
                f"AND id NOT IN ({_marks(exclude)}) ORDER BY random() LIMIT 1",
                exclude,
            ).fetchone()
        return row[0] if row else None

    def pick_unverified(self, exclude: Iterable[int], voter: str) -> int | None:
        """An active unverified clip that needs votes most (fewest counted), random among ties,
        that this voter has not voted on yet and that is not in exclude."""
        exclude = list(exclude)
        with self.read() as db:
            row = db.execute(
                "SELECT c.id FROM clips c "
                "LEFT JOIN votes v ON v.clip_id = c.id AND v.counted = 1 "
                "WHERE c.pool = 'unverified' AND c.retired IS NULL "
                f"AND c.id NOT IN ({_marks(exclude)}) "
                "AND NOT EXISTS (SELECT 1 FROM votes w WHERE w.clip_id = c.id AND w.voter = ?) "
                "GROUP BY c.id ORDER BY count(v.id), random() LIMIT 1",
                [*exclude, voter],
            ).fetchone()
        return row[0] if row else None

    def set_pool(
        self,
        clip_id: int,
        from_pool: str,
        to_pool: str,
        now: float,
        label: str | None = None,
        label_source: str | None = None,
    ) -> bool:
        """Move a clip's record to another pool if it is still in from_pool; False if it was not."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE clips SET pool = ?, label = coalesce(?, label), "
                "label_source = coalesce(?, label_source), updated_at = ? "
                "WHERE id = ? AND pool = ? AND retired IS NULL",
                [to_pool, label, label_source, now, clip_id, from_pool],
            )
            return cur.rowcount == 1

    def retire(self, clip_id: int, from_pool: str, reason: str, now: float) -> bool:
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE clips SET retired = ?, updated_at = ? "
                "WHERE id = ? AND pool = ? AND retired IS NULL",
                [reason, now, clip_id, from_pool],
            )
            return cur.rowcount == 1

    def set_store_pool(self, clip_id: int, from_pool: str, to_pool: str) -> bool:
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE clips SET store_pool = ? WHERE id = ? AND store_pool = ?",
                [to_pool, clip_id, from_pool],
            )
            return cur.rowcount == 1

    def clips_in_transit(self) -> list[dict[str, Any]]:
        with self.read() as db:
            return [_clip(r) for r in db.query("SELECT * FROM clips WHERE pool != store_pool")]

    def stored_names(self) -> dict[str, str]:
        """audio_name -> the pool its audio is recorded in."""
        with self.read() as db:
            return {r[0]: r[1] for r in db.execute("SELECT audio_name, store_pool FROM clips")}

    def delete_clip(self, clip_id: int) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM clips WHERE id = ?", [clip_id])

    # -- challenges ----------------------------------------------------------------------------

    def create_challenge(self, challenge: dict[str, Any], slots: list[Slot]) -> None:
        with self.transaction() as db:
            db["challenges"].insert(challenge)
            _insert_round(db, challenge["id"], challenge["round"], challenge["created_at"], slots)

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        with self.read() as db:
            rows = list(db.query("SELECT * FROM challenges WHERE id = ?", [challenge_id]))
            if not rows:
                return None
            c = rows[0]
            slots = [
                Slot(r["slot"], r["position"], r["clip_id"], bool(r["is_control"]), r["answer"])
                for r in db.query(
                    "SELECT * FROM slots WHERE challenge_id = ? AND round_no = ? ORDER BY position",
                    [challenge_id, c["round"]],
                )
            ]
            used = [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT clip_id FROM slots WHERE challenge_id = ?", [challenge_id]
                )
            ]
        return Challenge(
            id=c["id"],
            client=c["client"],
            state=c["state"],
            round=c["round"],
            rounds_passed=c["rounds_passed"],
            rounds_to_pass=c["rounds_to_pass"],
            max_rounds=c["max_rounds"],
            created_at=c["created_at"],
            expires_at=c["expires_at"],
            closed_at=c["closed_at"],
            slots=tuple(slots),
            used_clip_ids=tuple(used),
        )

    def apply_answer(
        self,
        challenge: Challenge,
        answers: dict[str, str],
        round_passed: bool,
        new_state: str,
        now: float,
        votes: list[Vote],
        next_slots: list[Slot] | None = None,
        token: dict[str, Any] | None = None,
    ) -> None:
        """Record one round's answer and everything that follows from it, all or nothing.

        Raises Conflict when the challenge is no longer open at that round (answered meanwhile)."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE challenges SET state = ?, round = ?, rounds_passed = ?, closed_at = ? "
                "WHERE id = ? AND state = 'open' AND round = ? AND expires_at > ?",
                [
                    new_state,
                    challenge.round + (1 if next_slots else 0),
                    challenge.rounds_passed + int(round_passed),
                    None if new_state == "open" else now,
                    challenge.id,
                    challenge.round,
                    now,
                ],
            )
            if cur.rowcount != 1:
                raise Conflict(challenge.id)
            db.execute(
                "UPDATE rounds SET answered_at = ?, passed = ? WHERE challenge_id = ? AND round_no = ?",
                [now, int(round_passed), challenge.id, challenge.round],
            )
            for slot, emotion_id in answers.items():
                db.execute(
                    "UPDATE slots SET answer = ? WHERE challenge_id = ? AND round_no = ? AND slot = ?",
                    [emotion_id, challenge.id, challenge.round, slot],
                )
            _insert_votes(db, votes, now)
            if next_slots:
                _insert_round(db, challenge.id, challenge.round + 1, now, next_slots)
            if token:
                db["tokens"].insert(token)

    # -- votes and tallies ---------------------------------------------------------------------

    def insert_votes(self, votes: list[Vote], now: float) -> list[bool]:
        """Record votes; returns for each whether it counted."""
        with self.transaction() as db:
            return _insert_votes(db, votes, now)

    def tally(self, clip_id: int) -> dict[str, int]:
        with self.read() as db:
            return {
                r[0]: r[1]
                for r in db.execute(
                    "SELECT emotion, count(*) FROM votes WHERE clip_id = ? AND counted = 1 "
                    "GROUP BY emotion",
                    [clip_id],
                )
            }

    def tallies(self) -> list[dict[str, Any]]:
        """Every clip that has a vote or is unverified, with its counted votes per emotion."""
        with self.read() as db:
            rows = list(
                db.query(
                    "SELECT c.id AS clip_id, c.pool, c.label, c.label_source, c.retired, "
                    "c.intended_emotion, v.emotion, count(v.id) AS n "
                    "FROM clips c LEFT JOIN votes v ON v.clip_id = c.id AND v.counted = 1 "
                    "WHERE c.pool != 'play' OR v.id IS NOT NULL "
                    "GROUP BY c.id, v.emotion ORDER BY c.id"
                )
            )
        out: dict[int, dict[str, Any]] = {}
        for r in rows:
            entry = out.setdefault(
                r["clip_id"],
                {k: r[k] for k in ("clip_id", "pool", "label", "label_source", "retired",
                                   "intended_emotion")} | {"votes": {}},
            )
            if r["emotion"] is not None:
                entry["votes"][r["emotion"]] = r["n"]
        return list(out.values())

    def voter_has_voted(self, clip_id: int, voter: str) -> bool:
        with self.read() as db:
            return (
                db.execute(
                    "SELECT 1 FROM votes WHERE clip_id = ? AND voter = ? LIMIT 1", [clip_id, voter]
                ).fetchone()
                is not None
            )

    def clips_with_counted_votes(self, pool: str) -> list[int]:
        with self.read() as db:
            return [
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT c.id FROM clips c JOIN votes v ON v.clip_id = c.id "
                    "WHERE c.pool = ? AND c.retired IS NULL AND v.counted = 1",
                    [pool],
                )
            ]

    # -- pass tokens ---------------------------------------------------------------------------

    def consume_token(self, jti: str, challenge_id: str, now: float) -> str:
        """Mark a token used; returns 'ok', 'unknown', 'used' or 'expired'."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT t.used_at, t.expires_at, c.state FROM tokens t "
                "JOIN challenges c ON c.id = t.challenge_id WHERE t.jti = ? AND t.challenge_id = ?",
                [jti, challenge_id],
            ).fetchone()
            if row is None or row[2] != "passed":
                return "unknown"
            if row[0] is not None:
                return "used"
            if row[1] <= now:
                return "expired"
            db.execute("UPDATE tokens SET used_at = ? WHERE jti = ? AND used_at IS NULL", [now, jti])
            return "ok"

    # -- background jobs -----------------------------------------------------------------------

    def create_job(self, kind: str, params: dict, now: float) -> int:
        with self.transaction() as db:
            return db["jobs"].insert({"kind": kind, "state": "queued", "params": json.dumps(params),
                                      "created_at": now}).last_pk

    def update_job(self, job_id: int, **fields: Any) -> None:
        for key in ("result", "params"):
            if key in fields and not isinstance(fields[key], str):
                fields[key] = json.dumps(fields[key])
        with self.transaction() as db:
            db["jobs"].update(job_id, fields)

    def get_job(self, job_id: int) -> dict[str, Any] | None:
        with self.read() as db:
            rows = list(db.query("SELECT * FROM jobs WHERE id = ?", [job_id]))
        return _job(rows[0]) if rows else None

    def jobs(self, limit: int = 20) -> list[dict[str, Any]]:
        with self.read() as db:
            return [_job(r) for r in db.query("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", [limit])]

    def latest_job(self, kind: str) -> dict[str, Any] | None:
        with self.read() as db:
            rows = list(db.query("SELECT * FROM jobs WHERE kind = ? ORDER BY id DESC LIMIT 1", [kind]))
        return _job(rows[0]) if rows else None

    def request_cancel(self, job_id: int) -> bool:
        with self.transaction() as db:
            cur = db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND state IN ('queued', 'running')",
                             [job_id])
            return cur.rowcount == 1

    def cancel_requested(self, job_id: int) -> bool:
        with self.read() as db:
            row = db.execute("SELECT cancel_requested FROM jobs WHERE id = ?", [job_id]).fetchone()
        return bool(row and row[0])

    def fail_interrupted_jobs(self, now: float) -> int:
        """At start: jobs a stopped process left queued or running cannot finish; say so."""
        with self.transaction() as db:
            return db.execute("UPDATE jobs SET state = 'failed', error = 'interrupted by a restart', "
                              "finished_at = ? WHERE state IN ('queued', 'running')", [now]).rowcount

    # -- model versions ------------------------------------------------------------------------

    def create_model(self, parent_version: str | None, trained_on: list[int], job_id: int | None,
                     now: float) -> int:
        with self.transaction() as db:
            return db["models"].insert({"parent_version": parent_version, "state": "training", "job_id": job_id,
                                        "trained_on": json.dumps(trained_on), "created_at": now}).last_pk

    def update_model(self, model_id: int, **fields: Any) -> None:
        if "metrics" in fields and not isinstance(fields["metrics"], str):
            fields["metrics"] = json.dumps(fields["metrics"], sort_keys=True)
        with self.transaction() as db:
            db["models"].update(model_id, fields)

    def get_model(self, model_id: int) -> dict[str, Any] | None:
        with self.read() as db:
            rows = list(db.query("SELECT * FROM models WHERE id = ?", [model_id]))
        return _model(rows[0]) if rows else None

    def models(self) -> list[dict[str, Any]]:
        with self.read() as db:
            return [_model(r) for r in db.query("SELECT * FROM models ORDER BY id DESC")]

    def active_model(self) -> dict[str, Any] | None:
        with self.read() as db:
            rows = list(db.query("SELECT * FROM models WHERE active = 1"))
        return _model(rows[0]) if rows else None

    def set_active_model(self, model_id: int | None) -> bool:
        """Make one evaluated version the active one (None: none, the configured default). False if the
        version is not evaluated."""
        with self.transaction() as db:
            if model_id is not None and db.execute(
                "SELECT 1 FROM models WHERE id = ? AND state = 'evaluated'", [model_id]
            ).fetchone() is None:
                return False
            db.execute("UPDATE models SET active = 0 WHERE active = 1")
            if model_id is not None:
                db.execute("UPDATE models SET active = 1 WHERE id = ?", [model_id])
            return True

    def mark_consumed(self, model_id: int, now: float) -> None:
        """Record when a version's clips were consumed (the first time)."""
        with self.transaction() as db:
            db.execute("UPDATE models SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL", [now, model_id])

    def active_jobs(self, kind: str) -> list[int]:
        with self.read() as db:
            return [r[0] for r in db.execute(
                "SELECT id FROM jobs WHERE kind = ? AND state IN ('queued', 'running') ORDER BY id", [kind])]

    def delete_clip_in_pool(self, clip_id: int, pool: str) -> bool:
        """Delete a clip's row only if it is still in pool; False if it was not (moved or gone)."""
        with self.transaction() as db:
            return db.execute("DELETE FROM clips WHERE id = ? AND pool = ? AND store_pool = ?",
                              [clip_id, pool, pool]).rowcount == 1

    # -- statistics ----------------------------------------------------------------------------

    def challenge_counts(self) -> dict[str, int]:
        with self.read() as db:
            return {r[0]: r[1] for r in db.execute("SELECT state, count(*) FROM challenges GROUP BY state")}


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction first; run statement by statement instead.
    statement = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        statement += line
        if sqlite3.complete_statement(statement):
            if statement.strip():
                conn.execute(statement)
            statement = ""
    if statement.strip():
        raise RuntimeError(f"incomplete SQL statement in migration: {statement[:80]!r}")


def _job(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["params"] = json.loads(row["params"] or "{}")
    row["result"] = json.loads(row["result"]) if row["result"] else None
    return row


def _model(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["trained_on"] = json.loads(row["trained_on"] or "[]")
    row["metrics"] = json.loads(row["metrics"] or "{}")
    row["active"] = bool(row["active"])
    return row


def _marks(values: list) -> str:
    return ", ".join("?" for _ in values)


def _clip(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["provenance"] = json.loads(row.get("provenance") or "{}")
    return row


def _insert_round(
    db: sqlite_utils.Database, challenge_id: str, round_no: int, now: float, slots: list[Slot]
) -> None:
    db["rounds"].insert({"challenge_id": challenge_id, "round_no": round_no, "started_at": now})
    db["slots"].insert_all(
        {
            "challenge_id": challenge_id,
            "round_no": round_no,
            "slot": s.slot,
            "position": s.position,
            "clip_id": s.clip_id,
            "is_control": int(s.is_control),
        }
        for s in slots
    )


def _insert_votes(db: sqlite_utils.Database, votes: list[Vote], now: float) -> list[bool]:
    counted = []
    for v in votes:
        row = [v.clip_id, v.voter, v.emotion, v.source, v.challenge_id, v.round_no, now]
        if v.control_correct:
            # The partial unique index makes a second counted vote of one voter fail here.
            cur = db.execute(
                "INSERT OR IGNORE INTO votes (clip_id, voter, emotion, source, challenge_id, "
                "round_no, created_at, counted) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                row,
            )
            if cur.rowcount == 1:
                counted.append(True)
                continue
            reason = "repeat_voter"
        else:
            reason = "control_wrong"
        db.execute(
            "INSERT INTO votes (clip_id, voter, emotion, source, challenge_id, round_no, "
            "created_at, counted, why_not_counted) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            [*row, reason],
        )
        counted.append(False)
    return counted
