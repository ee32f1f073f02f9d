"""Data at rest is the owner's alone: the data dir and audio folders 0700, the SQLite file (and so its -wal and
-shm, which SQLite creates with the main file's mode) and keys 0600. Other local users can read no answer, no
voter address and no key. Existing installs are tightened at the next start."""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Make a folder (and missing parents, as mkdir -p does) readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    _chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create a file if missing, readable and writable by its owner only; tighten an existing one."""
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, FILE_MODE))
    _chmod(path, FILE_MODE)
    for sibling in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if sibling.exists():
            _chmod(sibling, FILE_MODE)
    return path


def _chmod(path: Path, mode: int) -> None:
    try:
        if path.stat().st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except PermissionError:
        pass  # a folder we do not own (a mounted volume): its owner decides
