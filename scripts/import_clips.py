"""Import clips listed in a CSV (columns path,emotion) into the library of INSIDEOUT_DATA_DIR.

    python scripts/import_clips.py --manifest FILE.csv --pool play|unverified
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from insideout.corpus.importers import ManifestError, import_manifest  # noqa: E402
from insideout.services import build_services  # noqa: E402
from insideout.settings import SettingsError, load_settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--manifest", required=True, help="CSV with columns path,emotion")
    parser.add_argument("--pool", required=True, choices=["play", "unverified"])
    args = parser.parse_args(argv)
    try:
        services = build_services(load_settings())
        report = import_manifest(services.library, args.manifest, args.pool, progress=True)
    except (SettingsError, ManifestError) as e:
        print(f"import_clips: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.imported or not report.skipped else 1


if __name__ == "__main__":
    sys.exit(main())
