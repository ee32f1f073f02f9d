"""List every INSIDEOUT_* setting: its name, its default and what it does (insideout.settings' table).

    insideout settings              plain text
    insideout settings --markdown   the README's settings table
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", action="store_true", help="print the table the README holds")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.settings import settings_help

    text = settings_help(markdown=args.markdown)
    print(text, end="" if text.endswith("\n") else "\n")
    return 0
