"""Copy a library's audio from one store to another (local -> S3 and back), verified and resumable.

The clips table is the list of what to copy and the proof of each copy: every row names the pool its
audio is in (store_pool) and the sha256 of the stored WAV. A clip counts as migrated only when the
target's bytes hash to that sha256, so a rerun after a crash or an outage skips what is already there
and verified, and copies the rest. The source is never changed.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from . import faults
from .db import Database
from .storage import AudioMissing, AudioStore, StoreError


@dataclass
class MigrationReport:
    source: str
    target: str
    clips: int = 0
    copied: int = 0
    already_there: int = 0
    bytes_copied: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)  # (clip id, why)
    interrupted: str | None = None  # why the run stopped early (an outage): rerun to resume

    @property
    def complete(self) -> bool:
        return self.interrupted is None and not self.failed and self.copied + self.already_there == self.clips

    def summary(self) -> str:
        lines = [
            f"from {self.source}",
            f"to   {self.target}",
            f"{self.clips} clips: {self.copied} copied ({self.bytes_copied / 1e6:.1f} MB), "
            f"{self.already_there} already there and verified, {len(self.failed)} failed",
        ]
        lines += [f"  clip {clip_id}: {why}" for clip_id, why in self.failed[:20]]
        if len(self.failed) > 20:
            lines.append(f"  ... and {len(self.failed) - 20} more")
        if self.interrupted:
            lines.append(f"stopped early: {self.interrupted}")
            lines.append("nothing is lost: run the same command again to copy the rest")
        elif self.complete:
            lines.append("every clip's audio is in the target and matches its sha256; the source is unchanged")
        return "\n".join(lines)


def _verified(store: AudioStore, pool: str, name: str, sha256: str) -> bool:
    try:
        return hashlib.sha256(store.get(pool, name)).hexdigest() == sha256
    except AudioMissing:
        return False


def migrate_clip(row: dict[str, Any], source: AudioStore, target: AudioStore) -> tuple[str, int]:
    """Copy one clip's audio unless the target already has it verified: ('copied'|'there'|why, bytes)."""
    # store_pool is where the audio is, also for a clip caught mid-move; the app's repair
    # finishes that move on the target at its next start.
    pool, name, sha = row["store_pool"], row["audio_name"], row["sha256"]
    if _verified(target, pool, name, sha):
        return "there", 0
    try:
        data = source.get(pool, name)
    except AudioMissing:
        return f"no audio {name} in pool {pool} of the source", 0
    if hashlib.sha256(data).hexdigest() != sha:
        return f"the source's audio {name} does not match its sha256 (damaged); not copied", 0
    target.put(pool, name, data)
    faults.point("migrate.copied")
    if not _verified(target, pool, name, sha):
        return f"the copy of {name} in the target does not match its sha256", 0
    return "copied", len(data)


def migrate_audio(db: Database, source: AudioStore, target: AudioStore, source_name: str, target_name: str,
                  workers: int = 8, progress: bool = False) -> MigrationReport:
    """Copy every clip's audio from source to target; stops at the first store error (an outage)."""
    rows = db.clips()
    report = MigrationReport(source=source_name, target=target_name, clips=len(rows))
    bar = tqdm(total=len(rows), unit="clip", desc="migrating", disable=not progress)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(migrate_clip, row, source, target): row["id"] for row in rows}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                bar.update(1)
                try:
                    outcome, size = future.result()
                except StoreError as e:  # an outage, or refused credentials: the same for every clip
                    report.interrupted = report.interrupted or str(e)
                    continue
                if outcome == "copied":
                    report.copied += 1
                    report.bytes_copied += size
                elif outcome == "there":
                    report.already_there += 1
                else:
                    report.failed.append((futures[future], outcome))
            if report.interrupted:
                # The store is down: don't let every remaining clip wait out its own retries.
                for future in pending:
                    future.cancel()
                pending = {f for f in pending if not f.cancelled()}
    bar.close()
    report.failed.sort()
    return report
