"""Import clips listed in a CSV (columns path,emotion) into the library of INSIDEOUT_DATA_DIR.

    insideout import --manifest FILE.csv --pool play|unverified

In the play pool the emotion is the clip's label; in the unverified pool it is kept as intended only, and
the crowd decides. Rows that cannot be imported are skipped with their reason. Exit 1 when every row was
skipped; 2 when the manifest cannot be read.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--manifest", required=True, help="CSV with columns path,emotion")
    parser.add_argument("--pool", required=True, choices=["play", "unverified"])


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.corpus.importers import ManifestError, import_manifest

    library = ctx.services().library
    try:
        report = import_manifest(library, args.manifest, args.pool, progress=True)
    except ManifestError as e:
        raise CommandError(str(e)) from None
    print(report.summary())
    return 0 if report.imported or not report.skipped else 1
