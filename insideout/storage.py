"""Audio storage: the pools as places, and file names that carry nothing.

A store only keeps bytes under (pool, name). Which pool a clip belongs to is decided in the database
(library.py); the store is told to copy and delete, never to "move", so that a move can be driven
step by step from a state recorded in the database and resumed after a crash.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from .db import POOLS

_NAME = re.compile(r"^[0-9a-f]{32}$")


class StoreError(Exception):
    pass


class AudioMissing(StoreError):
    pass


def new_audio_name() -> str:
    """A random name: 128 bits, nothing derived from the clip."""
    return secrets.token_hex(16)


def check_key(pool: str, name: str) -> None:
    if pool not in POOLS:
        raise StoreError(f"unknown pool {pool!r}; expected one of {', '.join(POOLS)}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise StoreError("bad audio name")


class AudioStore(Protocol):
    """What the library needs from a place that keeps audio. LocalStore and (later) S3Store."""

    def put(self, pool: str, name: str, data: bytes) -> None: ...

    def get(self, pool: str, name: str) -> bytes: ...

    def exists(self, pool: str, name: str) -> bool: ...

    def size(self, pool: str, name: str) -> int: ...

    def copy(self, src_pool: str, dst_pool: str, name: str) -> None: ...

    def delete(self, pool: str, name: str) -> None: ...

    def names(self, pool: str) -> Iterator[str]: ...


class LocalStore:
    """Pools as folders under one root: root/<pool>/<name>.wav."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        for pool in POOLS:
            (self.root / pool).mkdir(parents=True, exist_ok=True)

    def _path(self, pool: str, name: str) -> Path:
        check_key(pool, name)
        return self.root / pool / f"{name}.wav"

    def put(self, pool: str, name: str, data: bytes) -> None:
        self._write_atomic(self._path(pool, name), data)

    def get(self, pool: str, name: str) -> bytes:
        try:
            return self._path(pool, name).read_bytes()
        except FileNotFoundError:
            raise AudioMissing(f"no audio {name} in {pool}") from None

    def exists(self, pool: str, name: str) -> bool:
        return self._path(pool, name).is_file()

    def size(self, pool: str, name: str) -> int:
        try:
            return self._path(pool, name).stat().st_size
        except FileNotFoundError:
            raise AudioMissing(f"no audio {name} in {pool}") from None

    def copy(self, src_pool: str, dst_pool: str, name: str) -> None:
        src, dst = self._path(src_pool, name), self._path(dst_pool, name)
        if src == dst:
            return
        try:
            # A hard link is an instant, atomic copy on one file system; os.replace keeps it atomic
            # when a partial earlier attempt left the destination behind.
            tmp = dst.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
            os.link(src, tmp)
            os.replace(tmp, dst)
        except FileNotFoundError:
            raise AudioMissing(f"no audio {name} in {src_pool}") from None
        except OSError:
            self._write_atomic(dst, self.get(src_pool, name))

    def delete(self, pool: str, name: str) -> None:
        self._path(pool, name).unlink(missing_ok=True)

    def names(self, pool: str) -> Iterator[str]:
        if pool not in POOLS:
            raise StoreError(f"unknown pool {pool!r}")
        for path in (self.root / pool).glob("*.wav"):
            if _NAME.match(path.stem):
                yield path.stem

    def remove_partial_writes(self) -> int:
        """Delete temp files left by writes a crash interrupted."""
        removed = 0
        for pool in POOLS:
            for path in (self.root / pool).glob(".*.tmp"):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
