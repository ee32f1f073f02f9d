"""Build the starter library: the shipped sentences in every emotion and offline voice.

    insideout build-corpus [--clips-per-emotion 30] [--unverified-share 0.2]
                           [--voices piper-joe espeak-f ...] [--seed 0] [--workers 2]

Clips go into the library of INSIDEOUT_DATA_DIR. Prints clips per second and the total time.
A build that was stopped resumes where it stopped. Exit 1 when some clips failed (listed).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from insideout.corpus.starter import StarterConfig

    defaults = StarterConfig()
    parser.add_argument("--clips-per-emotion", type=int, default=defaults.clips_per_emotion)
    parser.add_argument("--unverified-share", type=float, default=defaults.unverified_share)
    parser.add_argument("--voices", nargs="+", help="voice ids (default: every voice that loads)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--workers", type=int, default=defaults.workers)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.corpus import starter
    from insideout.corpus.synth import VOICES, available_voices
    from insideout.sentences import load_sentences

    settings = ctx.settings()
    unknown = [v for v in args.voices or [] if v not in VOICES]
    if unknown:
        raise CommandError(f"unknown voice {unknown[0]!r}; known: {', '.join(VOICES)}")
    config = starter.StarterConfig(args.clips_per_emotion, args.unverified_share,
                                   tuple(args.voices) if args.voices else None, args.seed, args.workers)
    try:
        starter.plan(config, load_sentences(), tuple(args.voices or available_voices()))
    except ValueError as e:
        raise CommandError(str(e)) from None
    report = starter.build(ctx.services().library, config)
    starter.mark_built(settings.data_dir, config, report)
    print(report.summary())
    for where, why in report.failed:
        print(f"  failed {where}: {why}")
    return 0 if not report.failed else 1
