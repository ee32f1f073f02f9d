"""The SQLite file itself: its schema (appended MIGRATIONS, tracked by PRAGMA user_version) and the
connections to it (WAL, a pool of idle connections, reads, BEGIN IMMEDIATE write transactions).

Kept apart from the queries so the section modules only ever see a connection they were handed, and
so nothing but this module decides how a transaction starts, commits or rolls back.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from ..private import private_dir, private_file

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
    """
    CREATE TABLE bot_evaluations (
        id INTEGER PRIMARY KEY,
        created_at REAL NOT NULL,
        report TEXT NOT NULL,
        job_id INTEGER
    );
    """,
    # Defences: a round's ungraded decoy slot (a play clip whose answer is neither scored nor a vote), how many
    # times each clip has been served in a round (the serve budget retires a play clip when spent), and the
    # voter's network (a cap on one network's counted votes per clip).
    """
    ALTER TABLE slots ADD COLUMN is_decoy INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE clips ADD COLUMN served INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE votes ADD COLUMN network TEXT;
    """,
    # Sites: the websites that embed the captcha (a public site key, a hashed secret, their origins). A
    # challenge remembers its site, the page's hostname, the site's action and the route that passed it
    # (audio, or proof of work for people who cannot hear); siteverify keeps its answers by idempotency key.
    """
    CREATE TABLE sites (
        sitekey TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        secret_hash TEXT NOT NULL UNIQUE,
        origins TEXT NOT NULL DEFAULT '[]',
        alternative INTEGER NOT NULL DEFAULT 1,
        policy TEXT,
        created_at REAL NOT NULL,
        secret_rotated_at REAL NOT NULL
    );
    ALTER TABLE challenges ADD COLUMN site TEXT NOT NULL DEFAULT 'builtin';
    ALTER TABLE challenges ADD COLUMN hostname TEXT;
    ALTER TABLE challenges ADD COLUMN action TEXT;
    ALTER TABLE challenges ADD COLUMN method TEXT NOT NULL DEFAULT 'audio';
    CREATE INDEX challenges_client ON challenges (client, created_at);
    CREATE TABLE verifications (
        site TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        response_hash TEXT NOT NULL,
        answer TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (site, idempotency_key)
    );
    """,
    # A job's structured progress: its stage and that stage's numbers as JSON ({"stage": ..., values...}),
    # beside the English message, so a view words it in its own language. NULL: no stage reported.
    """
    ALTER TABLE jobs ADD COLUMN detail TEXT;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

class Connections:
    """The connections to one SQLite file. Thread-safe: each call gets a connection of its own."""

    def __init__(self, path: Path):
        self.path = path
        private_dir(self.path.parent)
        private_file(self.path)  # before SQLite opens it: its -wal and -shm take this file's mode
        self._migrate_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._idle: queue.LifoQueue[sqlite_utils.Database] = queue.LifoQueue(maxsize=POOL_SIZE)

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
                version = user_version(db)
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


def user_version(db: sqlite_utils.Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def marks(values: Sequence[object]) -> str:
    """Placeholders for an IN (...) list of these values."""
    return ", ".join("?" for _ in values)


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
