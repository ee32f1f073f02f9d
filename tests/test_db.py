import sqlite3

import pytest

from insideout.db import SCHEMA_VERSION, Database


def test_a_new_database_is_at_the_current_schema_version(tmp_path):
    assert Database(tmp_path / "a.db").schema_version() == SCHEMA_VERSION


def test_opening_twice_migrates_once(tmp_path):
    Database(tmp_path / "a.db")
    assert Database(tmp_path / "a.db").schema_version() == SCHEMA_VERSION


def test_the_journal_is_wal(tmp_path):
    db = Database(tmp_path / "a.db")
    with db.read() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "a.db"
    Database(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Database(path)


def test_a_failed_transaction_leaves_nothing(tmp_path):
    db = Database(tmp_path / "a.db")
    with pytest.raises(ZeroDivisionError):
        with db.transaction() as conn:
            conn.execute("INSERT INTO challenges (id, client, state, round, rounds_to_pass, "
                         "max_rounds, created_at, expires_at) VALUES ('x', 'c', 'open', 1, 1, 3, 0, 1)")
            1 / 0
    assert db.get_challenge("x") is None


def test_tally_queries_use_an_index(tmp_path):
    db = Database(tmp_path / "a.db")
    with db.read() as conn:
        plan = " ".join(r[3] for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT emotion, count(*) FROM votes WHERE clip_id = 1 AND counted = 1 "
            "GROUP BY emotion"))
    assert "votes_tally" in plan or "votes_counted_once" in plan
