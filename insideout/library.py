"""The clip library: what touches a clip's audio and its row together: adding clips with their provenance,
reading their audio, moving them between pools, deleting them, repairing after a crash. Queries of clip
rows (picking, counting, listing) are the metadata store's own (db.Metadata): the library does not front them.

Invariant: a clip row always names a pool (store_pool) where its audio exists. Adding writes the
audio before the row; a move copies the audio, then repoints the row, then deletes the old copy;
deleting removes the row before the audio. A crash at any instant therefore leaves at worst an
unreferenced file, which repair() removes at a start once it is older than the grace period, or a
half-done move, which it finishes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import faults, wav
from .db import POOLS, Database
from .emotions import emotion
from .storage import AudioMissing, AudioStore, new_audio_name

log = logging.getLogger("insideout.library")

SOURCES = ("starter", "restock", "ravdess", "manifest", "tts", "upload", "test")


class ClipError(ValueError):
    pass


@dataclass
class ClipInfo:
    """Where a clip came from. A label is trusted; an intended emotion (of generated clips) is not."""

    source: str
    label: str | None = None
    intended_emotion: str | None = None
    text: str | None = None
    voice: str | None = None
    engine: str | None = None
    model_version: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)


class Library:
    def __init__(self, db: Database, store: AudioStore):
        self.db = db
        self.store = store

    # -- adding --------------------------------------------------------------------------------

    def add(self, samples: np.ndarray, sample_rate: int, pool: str, info: ClipInfo) -> int:
        """Store audio (converted to mono 22050 Hz 16-bit) and its row; returns the clip id."""
        self._check(pool, info)
        pcm = wav.to_storage(samples, sample_rate)
        data = wav.encode(pcm)
        name = new_audio_name()
        now = time.time()
        self.store.put(pool, name, data)
        faults.point("add.audio_written")
        try:
            return self.db.insert_clip(
                {
                    "audio_name": name,
                    "pool": pool,
                    "store_pool": pool,
                    "label": info.label,
                    "label_source": "trusted" if info.label else None,
                    "intended_emotion": info.intended_emotion,
                    "source": info.source,
                    "engine": info.engine,
                    "voice": info.voice,
                    "text": info.text,
                    "model_version": info.model_version,
                    "provenance": info.provenance,
                    "duration_s": round(pcm.size / wav.SAMPLE_RATE, 3),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        except BaseException:
            self.store.delete(pool, name)
            raise

    def add_file(self, data: bytes, pool: str, info: ClipInfo) -> int:
        samples, sr = wav.decode(data)
        return self.add(samples, sr, pool, info)

    @staticmethod
    def _check(pool: str, info: ClipInfo) -> None:
        if pool not in POOLS:
            raise ClipError(f"unknown pool {pool!r}; expected one of {', '.join(POOLS)}")
        if info.source not in SOURCES:
            raise ClipError(f"unknown source {info.source!r}; expected one of {', '.join(SOURCES)}")
        for value in (info.label, info.intended_emotion):
            if value is not None:
                emotion(value)
        if pool in ("play", "learning") and info.label is None:
            raise ClipError(f"a clip in {pool} needs a trusted label")
        if pool == "unverified" and info.label is not None:
            raise ClipError("an unverified clip has no trusted label (use intended_emotion)")

    # -- reading -------------------------------------------------------------------------------

    def clip(self, clip_id: int) -> dict[str, Any]:
        row = self.db.get_clip(clip_id)
        if row is None:
            raise ClipError(f"no clip {clip_id}")
        return row

    def pcm(self, clip_id: int) -> np.ndarray:
        row = self.clip(clip_id)
        return wav.decode_storage(self.store.get(row["store_pool"], row["audio_name"]))

    def wave(self, clip_id: int) -> np.ndarray:
        """The clip as float32 samples in [-1, 1) at wav.SAMPLE_RATE (the store holds int16)."""
        return self.pcm(clip_id).astype(np.float32) / 32768.0

    # -- moving --------------------------------------------------------------------------------

    def move(self, clip_id: int, from_pool: str, to_pool: str, label: str | None = None,
             label_source: str | None = None) -> bool:
        """Move a clip if it is still in from_pool (idempotent); the audio follows at once."""
        if to_pool not in POOLS:
            raise ClipError(f"unknown pool {to_pool!r}")
        if to_pool in ("play", "learning") and label is None and self.clip(clip_id)["label"] is None:
            raise ClipError(f"a clip in {to_pool} needs a label")
        moved = self.db.set_pool(clip_id, from_pool, to_pool, time.time(), label, label_source)
        self.settle_audio(clip_id)
        return moved

    def settle_audio(self, clip_id: int) -> None:
        """Bring a clip's audio to its pool: copy, verify, repoint the row, delete the old copy."""
        row = self.db.get_clip(clip_id)
        if row is None or row["pool"] == row["store_pool"]:
            return
        src, dst, name = row["store_pool"], row["pool"], row["audio_name"]
        try:
            self.store.copy(src, dst, name)
        except AudioMissing:
            # Another thread may have finished this very move between our read and our copy.
            again = self.db.get_clip(clip_id)
            if again is not None and again["store_pool"] == again["pool"]:
                return
            raise
        data = self.store.get(dst, name)
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            self.store.delete(dst, name)
            raise ClipError(f"clip {clip_id}: the copy in {dst} does not match; left in {src}")
        faults.point("move.copied")
        if self.db.set_store_pool(clip_id, src, dst):
            faults.point("move.repointed")
            self.store.delete(src, name)

    def delete(self, clip_id: int) -> None:
        row = self.clip(clip_id)
        self.db.delete_clip(clip_id)
        self.store.delete(row["store_pool"], row["audio_name"])

    def repair(self, grace_s: float = 0.0, now: float | None = None) -> dict[str, int]:
        """At start: finish moves a crash interrupted and drop audio no row refers to.

        Audio no row names is left alone while younger than grace_s: on a store shared with another replica,
        or while an import runs, a writer puts a clip's audio before its row (settings.repair_grace_s). A copy
        of a clip in a pool its row names neither as its pool nor as its audio's is a finished move's leftover,
        removed whatever its age; one in the pool its row names is another process's move, left alone."""
        finished = 0
        for row in self.db.clips_in_transit():
            self.settle_audio(row["id"])
            finished += 1
        # Listed before the rows are read: a clip added meanwhile then shows its row, or is young.
        listed = {pool: list(self.store.listing(pool)) for pool in POOLS}
        rows = {r["audio_name"]: r for r in self.db.clips()}
        now = time.time() if now is None else now
        orphans = young = 0
        for pool, names in listed.items():
            for name, modified in names:
                row = rows.get(name)
                if row is not None and pool in (row["store_pool"], row["pool"]):
                    continue
                if row is None and now - modified < grace_s:
                    young += 1
                    continue
                self.store.delete(pool, name)
                orphans += 1
        if young:
            log.info("repair left %d unreferenced audio files younger than %ss alone", young, grace_s)
        partial = getattr(self.store, "remove_partial_writes", lambda older_than_s=0: 0)(older_than_s=grace_s)
        return {"moves_finished": finished, "orphans_removed": orphans, "partial_removed": partial}
