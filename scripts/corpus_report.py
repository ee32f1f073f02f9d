"""Per emotion: clip count, duration, median F0, F0 range and energy of the library in INSIDEOUT_DATA_DIR,
as a table on the console and a PNG plot.

    python scripts/corpus_report.py [--plot corpus_report.png] [--pools play unverified]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from insideout.corpus.report import format_table, measure_library, per_emotion, plot  # noqa: E402
from insideout.services import build_services  # noqa: E402
from insideout.settings import SettingsError, load_settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plot", default="corpus_report.png", help="where to write the PNG")
    parser.add_argument("--pools", nargs="+", default=["play", "unverified"],
                        choices=["play", "unverified", "learning"])
    args = parser.parse_args(argv)
    try:
        services = build_services(load_settings())
    except SettingsError as e:
        print(f"corpus_report: {e}", file=sys.stderr)
        return 2
    rows = measure_library(services.library, tuple(args.pools))
    if not rows:
        print("corpus_report: the library has no clips with a known emotion", file=sys.stderr)
        return 1
    table = per_emotion(rows)
    print(format_table(table))
    plot(rows, table, Path(args.plot))
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
