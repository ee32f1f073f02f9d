"""The order in which test files reach the two xdist workers: the longest first.

pytest-xdist's `--dist loadfile` hands a worker one file at a time, by default the files with the most tests
first, so the few long files (a first start that builds the starter library, attackers that render and recognize
speech) came last and one worker ran them while the other had finished. Handing out the longest first (and
the light ones to fill in) lets both finish together. The seconds are measured, per file, from a run with
`--durations=0`; refresh them with

    python -m pytest --durations=0 > durations.log; python -m tests.schedule durations.log

A file not in the table counts as light. The order is the same on both workers (xdist checks that).
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

TABLE = Path(__file__).with_name("file_seconds.json")
_DURATION = re.compile(r"^([0-9.]+)s (?:setup|call|teardown)\s+(tests/[^:\s]+)")


def file_seconds() -> dict[str, float]:
    """Measured seconds per test file (path relative to the repository), or none when the table is missing."""
    try:
        return json.loads(TABLE.read_text())
    except FileNotFoundError:
        return {}


def longest_first(items: list[pytest.Item]) -> None:
    """Reorders the collected items in place: files by measured seconds, longest first; within a file as
    written (sorting is stable), so module fixtures and the tests' own order stay as they were."""
    seconds = file_seconds()
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::", 1)[0], 0.0))


def parse(log: str) -> dict[str, float]:
    """Per-file sums of `--durations=0` lines: `12.34s call     tests/test_x.py::test_y`."""
    sums: dict[str, float] = defaultdict(float)
    for line in log.splitlines():
        match = _DURATION.match(line.strip())
        if match:
            sums[match.group(2)] += float(match.group(1))
    return {name: round(total, 1) for name, total in sorted(sums.items(), key=lambda kv: -kv[1])}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.schedule DURATIONS_LOG", file=sys.stderr)
        return 2
    table = parse(Path(argv[0]).read_text())
    if not table:
        print(f"no --durations lines in {argv[0]}", file=sys.stderr)
        return 1
    TABLE.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{len(table)} files, {sum(table.values()):.0f} s in all -> {TABLE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
