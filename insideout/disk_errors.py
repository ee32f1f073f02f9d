"""A full or read-only disk, recognised in the errors of SQLite and of the file system and said in one sentence.

A write to a full disk fails as OSError ENOSPC (EDQUOT over a quota, EFBIG past a file size limit) from the
audio store, or as SQLite's "database or disk is full" (SQLITE_FULL; a disk I/O error when its log cannot
grow); to a read-only one as EROFS or SQLite's "attempt to write a readonly database" / "unable to open
database file". Either way the change is not made: SQLite rolls the transaction back and the library writes
audio before its row, so nothing is half-written. The command line's preamble turns these into a sentence a
person can act on instead of a traceback; anything else is not ours to explain and goes on as it was.
"""

from __future__ import annotations

import errno
import sqlite3
from dataclasses import dataclass

FULL, READ_ONLY = "full", "read-only"
_ERRNOS = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EFBIG: FULL, errno.EROFS: READ_ONLY}
# SQLite's primary result codes (the low byte of an extended code)
_SQLITE = {13: FULL, 10: FULL, 8: READ_ONLY, 14: READ_ONLY}  # FULL, IOERR, READONLY, CANTOPEN


@dataclass(frozen=True)
class DiskProblem:
    kind: str  # FULL or READ_ONLY
    message: str


def diagnose(error: BaseException) -> DiskProblem | None:
    """What a full or read-only disk made of this error (or of one it was raised from); None otherwise."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _kind(current)
        if kind is not None:
            return DiskProblem(kind, _message(kind, current))
        current = current.__cause__ or current.__context__
    return None


def _kind(error: BaseException) -> str | None:
    if isinstance(error, OSError):
        return _ERRNOS.get(error.errno or 0)
    if isinstance(error, sqlite3.Error):
        code = getattr(error, "sqlite_errorcode", None)
        return _SQLITE.get(code & 0xFF) if code is not None else None
    return None


def _message(kind: str, error: BaseException) -> str:
    where = f" ({error.filename})" if isinstance(error, OSError) and error.filename else ""
    if kind == FULL:
        return (f"the disk holding the data dir (INSIDEOUT_DATA_DIR) is full{where}: {error}. The change was not "
                "made and nothing was left half-written; free some space there, then try again")
    return (f"the data dir (INSIDEOUT_DATA_DIR) is on a read-only file system or cannot be opened for "
            f"writing{where}: {error}. InsideOut keeps its database and audio there: make it writable, or point "
            "INSIDEOUT_DATA_DIR at a writable folder")
