"""Import a RAVDESS folder (the user's own copy; CC BY-NC-SA 4.0) into the library of INSIDEOUT_DATA_DIR.

    insideout import-ravdess FOLDER [--pool play|unverified]

The emotion comes from each file's name. Files that cannot be imported are skipped with their reason.
Exit 1 when every file was skipped; 2 when the folder is missing.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="a folder holding RAVDESS .wav files (searched recursively)")
    parser.add_argument("--pool", default="play", choices=["play", "unverified"])


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.corpus.importers import ManifestError, import_ravdess

    library = ctx.services().library
    try:
        report = import_ravdess(library, args.folder, args.pool, progress=True)
    except ManifestError as e:
        raise CommandError(str(e)) from None
    print(report.summary())
    return 0 if report.imported or not report.skipped else 1
