import ast
import inspect
import re
import sqlite3
from pathlib import Path

import pytest

import insideout
from insideout.db import (
    CHALLENGE_STATES,
    JOB_ACTIVE,
    JOB_QUEUED,
    JOB_RUNNING,
    JOB_STATES,
    MIGRATIONS,
    MODEL_STATES,
    SCHEMA_VERSION,
    Database,
    Metadata,
)

PACKAGE = Path(insideout.__file__).parent


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


# -- the Metadata interface ---------------------------------------------------------------------

SQLITE_ONLY = {"connect", "read", "transaction", "migrate"}  # internals, not part of Metadata


def metadata_operations() -> list[str]:
    return sorted(name for name, value in vars(Metadata).items() if callable(value) and not name.startswith("_"))


def test_every_metadata_operation_exists_on_sqlite():
    assert metadata_operations()
    for name in metadata_operations():
        assert inspect.signature(getattr(Database, name)) == inspect.signature(getattr(Metadata, name)), name


def test_every_public_sqlite_operation_is_in_metadata_or_a_sqlite_internal():
    public = {name for name, value in vars(Database).items() if callable(value) and not name.startswith("_")}
    assert public - SQLITE_ONLY == set(metadata_operations())


def test_the_metadata_interface_imports_nothing_of_sqlite():
    for module in ("protocol.py", "records.py"):
        tree = ast.parse((PACKAGE / "db" / module).read_text())
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        imported += [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        assert imported and not [name for name in imported if "sqlite" in name or name == "schema"], module


SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE FROM|PRAGMA)\s|\bdb\.(read|transaction|connect)\(|"
                 r"\.(transaction|execute|executemany|query)\(")


def test_no_module_outside_the_db_package_runs_sql():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if (PACKAGE / "db") in path.parents:
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if SQL.search(line):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{no}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize("table, states", [("challenges", CHALLENGE_STATES), ("jobs", JOB_STATES),
                                           ("models", MODEL_STATES)])
def test_the_state_constants_are_the_states_the_schema_allows(table, states):
    script = next(m for m in MIGRATIONS if f"CREATE TABLE {table} " in m)
    allowed = re.search(r"state TEXT NOT NULL CHECK \(state IN \(([^)]*)\)\)", script).group(1)
    assert tuple(s.strip(" '") for s in allowed.split(",")) == states


def test_the_active_job_states_are_queued_and_running():
    assert JOB_ACTIVE == (JOB_QUEUED, JOB_RUNNING) == ("queued", "running")
