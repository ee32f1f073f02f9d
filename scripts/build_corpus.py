"""Build the starter library: the shipped sentences in every emotion and offline voice.

    python scripts/build_corpus.py [--clips-per-emotion 30] [--unverified-share 0.2]
                                   [--voices piper-joe espeak-f ...] [--seed 0] [--workers 2]

Clips go into the library of INSIDEOUT_DATA_DIR. Prints clips per second and the total time.
A build that was stopped resumes where it stopped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from insideout.corpus import starter  # noqa: E402
from insideout.services import build_services  # noqa: E402
from insideout.settings import SettingsError, load_settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = starter.StarterConfig()
    parser.add_argument("--clips-per-emotion", type=int, default=defaults.clips_per_emotion)
    parser.add_argument("--unverified-share", type=float, default=defaults.unverified_share)
    parser.add_argument("--voices", nargs="+", help="voice ids (default: every voice that loads)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as e:
        print(f"build_corpus: {e}", file=sys.stderr)
        return 2
    from insideout.corpus.synth import VOICES, available_voices

    unknown = [v for v in args.voices or [] if v not in VOICES]
    if unknown:
        print(f"build_corpus: unknown voice {unknown[0]!r}; known: {', '.join(VOICES)}", file=sys.stderr)
        return 2
    config = starter.StarterConfig(args.clips_per_emotion, args.unverified_share,
                                   tuple(args.voices) if args.voices else None, args.seed, args.workers)
    try:
        starter.plan(config, starter.load_sentences(), tuple(args.voices or available_voices()))
    except ValueError as e:
        print(f"build_corpus: {e}", file=sys.stderr)
        return 2
    services = build_services(settings)
    report = starter.build(services.library, config)
    starter.mark_built(settings.data_dir, config, report)
    print(report.summary())
    for where, why in report.failed:
        print(f"  failed {where}: {why}")
    return 0 if not report.failed else 1


if __name__ == "__main__":
    sys.exit(main())
