"""Kill points: a test hook that SIGKILLs this process at a named instant of a multi-step operation.

The fault tests (tests/test_faults.py) prove that a crash in the middle of a consensus move, a migration, a
generation, a training job or an import leaves the library whole and the work resumable. A kill at a random
instant rarely lands between two steps that matter, so the engine names those instants: `point("name")`
costs one comparison and does nothing unless INSIDEOUT_FAULT_KILL_AT names that point, in which case the
process kills itself with SIGKILL (no cleanup, no finally blocks, no flushing: what a power cut or the OOM
killer does). This is for tests only; a deployment never sets the variable.

The points, by name:
    move.copied        Library.settle_audio: the audio copied to the new pool and verified, the row not repointed
    move.repointed     Library.settle_audio: the row repointed, the old pool's copy not yet deleted
    add.audio_written  Library.add: the audio stored, its row not yet inserted
    migrate.copied     store_migration.migrate_clip: a clip's audio put in the target, not yet verified
    generate.batch     generation.generate: a batch of clips added, the rest of the request not yet made
    train.checkpoint   tts.train.train: a periodic checkpoint saved, training not finished
    retrain.saved      Retraining._run: the trained model file saved, its row not yet marked trained
    import.row         corpus.importers.import_manifest: a manifest row imported, the rest not yet
"""

from __future__ import annotations

import os
import signal

ENV = "INSIDEOUT_FAULT_KILL_AT"
_KILL_AT = os.environ.get(ENV, "")  # read once, at import: a point is then one string comparison


def point(name: str) -> None:
    """Die here, by SIGKILL, if INSIDEOUT_FAULT_KILL_AT is `name` (a test hook; nothing otherwise)."""
    if _KILL_AT and name == _KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
