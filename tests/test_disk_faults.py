"""A full disk and a read-only data dir: a clear error (one sentence, not a traceback), and no corruption
(PRAGMA integrity_check, insideout.invariants) once the disk is usable again.

The data dir lives on a small tmpfs the test mounts (we run as root, here and in CI). Where this system
permits no mount, a full disk is the writing process's file size limit set to one byte (RLIMIT_FSIZE: every
write past the first byte fails with EFBIG, as writes to a full disk fail with ENOSPC), and the read-only
tests are skipped (chmod does not stop root).
"""

from __future__ import annotations

import os
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from insideout.commands.bench_api import start_server
from insideout.disk_errors import FULL, diagnose
from insideout.invariants import check
from insideout.library import ClipInfo
from insideout.services import Services, build_services
from tests.conftest import SECRET, make_settings, stock, tone, wav_bytes
from tests.helpers import answers

ROOT = Path(__file__).resolve().parent.parent
UNLIMITED = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)


class Disk:
    """Where a data dir lives, and how to make its disk full and free again."""

    def __init__(self, root: Path, mounted: bool):
        self.root, self.mounted = root, mounted
        self.filler = root / "filler"

    def fill(self, pid: int) -> None:
        """Fill the tmpfs; or, unmounted, limit process `pid`'s files to one byte."""
        if not self.mounted:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
            return
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:
            pass  # ENOSPC: now full
        finally:
            os.close(fd)

    def free(self, pid: int) -> None:
        if self.mounted:
            self.filler.unlink()
        else:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, UNLIMITED)

    def child_limit(self) -> None:
        """preexec_fn of a child started while the disk is full (the unmounted case: its own limit)."""
        if not self.mounted:
            resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))


def mount(where: Path, *options: str) -> bool:
    return subprocess.run(["mount", *options, str(where)], capture_output=True).returncode == 0


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    root = tmp_path / "disk"
    root.mkdir()
    mounted = mount(root, "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs")
    try:
        yield Disk(root, mounted)
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.fixture
def stocked(disk: Disk) -> Services:
    services = build_services(make_settings(disk.root / "data"))
    stock(services, play=16, unverified=2)
    return services


def env_for(data: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDEOUT_")}
    return {**env, "INSIDEOUT_DATA_DIR": str(data), "INSIDEOUT_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT),
            "INSIDEOUT_STARTER_LIBRARY": "0", **extra}


def cli(data: Path, *args: str, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "insideout", *args], env=env_for(data), cwd=ROOT,
                          capture_output=True, text=True, timeout=120, preexec_fn=preexec)


def manifest(tmp_path: Path) -> Path:
    (tmp_path / "a.wav").write_bytes(wav_bytes(tone(71)))
    (tmp_path / "b.wav").write_bytes(wav_bytes(tone(72)))
    path = tmp_path / "clips.csv"
    path.write_text("path,emotion\na.wav,sad\nb.wav,calm\n")
    return path


def assert_whole(services: Services, clips: int) -> None:
    """The SQLite file is sound, the library's invariants hold and it holds `clips` clips."""
    with sqlite3.connect(services.settings.db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert check(services.db, services.store) == []
    assert len(services.db.clips()) == clips


def assert_clear(result: subprocess.CompletedProcess, code: int, words: str) -> None:
    assert result.returncode == code, result.stderr
    assert words in result.stderr and "INSIDEOUT_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# -- a full disk ----------------------------------------------------------------------------------------------


def test_adding_a_clip_on_a_full_disk_fails_as_a_full_disk_and_writes_nothing(stocked, disk):
    names = {pool: set(stocked.store.names(pool)) for pool in ("play", "unverified", "learning")}
    disk.fill(os.getpid())
    try:
        with pytest.raises((OSError, sqlite3.Error)) as raised:
            stocked.library.add(tone(5), 22050, "play", ClipInfo(source="test", label="sad"))
    finally:
        disk.free(os.getpid())
    problem = diagnose(raised.value)
    assert problem is not None and problem.kind == FULL and "is full" in problem.message
    assert {pool: set(stocked.store.names(pool)) for pool in names} == names  # no audio left behind
    assert_whole(stocked, 18)


def test_an_import_or_a_start_on_a_full_disk_says_the_disk_is_full(stocked, disk, tmp_path):
    clips = manifest(tmp_path)
    disk.fill(os.getpid())  # unmounted, this limits only the test process; the children get their own below
    try:
        imported = cli(stocked.settings.data_dir, "import", "--manifest", str(clips), "--pool", "play",
                       preexec=disk.child_limit)
        served = cli(stocked.settings.data_dir, "serve", preexec=disk.child_limit)
    finally:
        disk.free(os.getpid())
    assert_clear(imported, 3, "is full")
    assert_clear(served, 3, "is full")
    assert_whole(stocked, 18)
    again = cli(stocked.settings.data_dir, "import", "--manifest", str(clips), "--pool", "play")
    assert again.returncode == 0 and "imported 2 clips" in again.stdout, again.stderr  # space is back: it works
    assert_whole(stocked, 20)


def test_a_vote_on_a_full_disk_is_refused_clearly_and_counts_once_space_is_back(stocked, disk):
    data = stocked.settings.data_dir
    proc, url = start_server(data, env_for(data, INSIDEOUT_SERVE_BUDGET="0"))
    try:
        challenge = httpx.post(f"{url}/api/v1/challenges", json={}).json()["challenge_id"]
        sent = {"answers": answers(stocked, challenge, True, vote="sad")}
        disk.fill(proc.pid)
        try:
            refused = httpx.post(f"{url}/api/v1/challenges/{challenge}/answer", json=sent, timeout=30)
        finally:
            disk.free(proc.pid)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "30"  # the server's trouble, said
        assert refused.json()["error"] == "storage_unavailable" and "Traceback" not in refused.text
        # A new connection: the server may close one that answered a 500.
        accepted = httpx.post(f"{url}/api/v1/challenges/{challenge}/answer", json=sent, timeout=30)
        assert accepted.status_code == 200 and accepted.json()["status"] == "passed", accepted.text
    finally:
        proc.terminate()
        proc.wait(30)
    assert_whole(stocked, 18)
    votes = [v for v in stocked.db.all_votes() if v["challenge_id"] == challenge]
    assert len(votes) == 1 and votes[0]["emotion"] == "sad"  # the refused answer left nothing


# -- a read-only data dir -------------------------------------------------------------------------------------


def test_a_start_or_an_import_on_a_read_only_data_dir_says_so(stocked, disk, tmp_path):
    if not disk.mounted:
        pytest.skip("this system permits no mount, and chmod does not make a folder read-only for root")
    stocked.db.close()
    assert mount(disk.root, "-o", "remount,ro")
    try:
        served = cli(stocked.settings.data_dir, "serve")
        imported = cli(stocked.settings.data_dir, "import", "--manifest", str(manifest(tmp_path)), "--pool", "play")
    finally:
        assert mount(disk.root, "-o", "remount,rw")
    assert_clear(served, 2, "read-only")
    assert_clear(imported, 2, "read-only")
    assert_whole(stocked, 18)
