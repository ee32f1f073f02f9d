"""Copy the audio of the library in INSIDEOUT_DATA_DIR to the store its settings name, from the other one.

    INSIDEOUT_STORAGE=s3    + INSIDEOUT_S3_*:  copies local audio (INSIDEOUT_DATA_DIR/audio) -> S3
    INSIDEOUT_STORAGE=local + INSIDEOUT_S3_*:  copies S3 -> local audio

    insideout migrate [--workers 8] [--no-progress]

Each copy is checked against the sha256 in the clips table; a rerun skips what is already copied and
verified, so after an interruption run the same command again. The source is left as it was. Stop the
app while migrating, then start it with the same settings. Exit 0 when every clip is in the target,
1 when some copies failed, 2 on bad settings or an unreachable store, 3 when an outage stopped it early.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from insideout.cli import STOPPED

if TYPE_CHECKING:
    from insideout.cli import Context
    from insideout.settings import Settings
    from insideout.storage import AudioStore


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=8, help="copies in flight at once (default 8)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def stores(settings: Settings) -> tuple[AudioStore, AudioStore, str, str]:
    """(source, target, their descriptions): the target is the store the settings name."""
    from insideout.settings import SettingsError
    from insideout.storage import LocalStore, S3Store

    if settings.s3 is None:
        raise SettingsError(
            "no S3 store is named: set INSIDEOUT_S3_BUCKET (or INSIDEOUT_S3_BUCKET_<POOL>) and the other "
            "INSIDEOUT_S3_* settings, with INSIDEOUT_STORAGE=s3 to copy local -> S3, or "
            "INSIDEOUT_STORAGE=local to copy S3 -> local"
        )
    local = LocalStore(settings.audio_dir)
    remote = S3Store(settings.s3)
    remote.check()
    local_name, remote_name = f"local {settings.audio_dir}", f"S3 {remote.describe()}"
    if settings.storage == "s3":
        return local, remote, local_name, remote_name
    return remote, local, remote_name, local_name


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.services import build_metadata
    from insideout.settings import SettingsError, settings_from_env
    from insideout.store_migration import migrate_audio

    # Not ctx.settings(): that would make a data dir and a secret key where there may be no library.
    settings = settings_from_env()
    if settings.metadata == "sqlite" and not settings.db_path.exists():
        raise SettingsError(f"no library at {settings.db_path}: check INSIDEOUT_DATA_DIR")
    source, target, source_name, target_name = stores(settings)
    report = migrate_audio(build_metadata(settings), source, target, source_name, target_name,
                           workers=args.workers, progress=not args.no_progress)
    print(report.summary())
    if report.interrupted:
        return STOPPED
    return 0 if report.complete else 1
