"""Give a mel refiner file a per-emotion emphasis: the postfilter's cepstral sharpening applied after its net.

    insideout emphasize-refiner models/mel-refiner.pt --emphasis surprised=0.3 [--emphasis EMOTION=BETA ...]
        --out runs/refiner-emphasis.pt
    insideout emphasize-refiner FILE --none --out OUT      # the same weights with no emphasis

The output holds the same weights and training record with the emphasis inside, so it is another file version:
every clip and every evaluation names the version it went through, and the activation rule never compares numbers
measured through different ones. The emphasis a file should carry is a measurement of that file's clips
(`insideout eval --refiner OUT`), not a property of emotions in general: retraining writes none.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("refiner", type=Path, help="a refiner file made by `insideout train-refiner`")
    parser.add_argument("--emphasis", action="append", default=[], metavar="EMOTION=BETA",
                        help="sharpen this emotion's refined mels by the postfilter's BETA (0 to 1); repeatable")
    parser.add_argument("--none", action="store_true", help="write the file with no emphasis")
    parser.add_argument("--out", type=Path, required=True, help="where to write it (may be the input file)")


def parsed(items: list[str]) -> dict[str, float]:
    """EMOTION=BETA items as a table; a CommandError naming a malformed or repeated one."""
    table: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        try:
            beta = float(value)
        except ValueError:
            beta = None
        if not sep or not name or beta is None:
            raise CommandError(f"--emphasis {item!r}: give EMOTION=BETA, for example surprised=0.3")
        if name in table:
            raise CommandError(f"--emphasis names {name} twice")
        table[name] = beta
    return table


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.tts import refiner as rf

    if bool(args.emphasis) == args.none:
        raise CommandError("give --emphasis EMOTION=BETA (one or more) or --none")
    try:
        written = rf.with_emphasis(args.refiner, args.out, parsed(args.emphasis))
    except rf.RefinerError as e:
        raise CommandError(str(e)) from None
    shown = ", ".join(f"{e} {b:g}" for e, b in written.emphasis.items()) or "none"
    print(f"wrote {args.out} (version {written.version}): the weights of {args.refiner}, emphasis {shown}")
    return 0
