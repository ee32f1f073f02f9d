"""Per emotion: clip count, duration, median F0, F0 range and energy of the library in INSIDEOUT_DATA_DIR,
as a table on the console and a PNG plot.

    insideout report [--plot corpus_report.png] [--pools play unverified]

Exit 1 when the library has no clip with a known emotion.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plot", default="corpus_report.png", help="where to write the PNG")
    parser.add_argument("--pools", nargs="+", default=["play", "unverified"],
                        choices=["play", "unverified", "learning"])


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.corpus.report import format_table, measure_library, per_emotion, plot

    rows = measure_library(ctx.services().library, tuple(args.pools))
    if not rows:
        raise CommandError("the library has no clips with a known emotion", 1)
    table = per_emotion(rows)
    print(format_table(table))
    plot(rows, table, Path(args.plot))
    print(f"plot: {args.plot}")
    return 0
