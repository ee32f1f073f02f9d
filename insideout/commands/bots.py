"""The bot lab from the command line: attackers play the captcha through its HTTP API, measured.

    insideout bots evaluate [--attackers random sybil sybil-every] [--policies 1/3 2/3 3/3] [--challenges 300]
                            [--configurations today] [--set INSIDEOUT_NAME=VALUE ...] [--set-name custom]
                            [--fresh-only]
                            [--seed 0] [--out botlab-report.json] [--plot botlab-report.png]
                            [--library-cache DIR] [--starter-per-emotion 30] [--no-store] [--url URL]

Each attacker under each (configuration, policy) gets its own local server on loopback over a fresh copy
of the starter library (built once, or reused from --library-cache) and plays N challenges there. A
configuration is a named set of settings: today (the defaults), strict-consensus, few-unverified, the
defences one at a time (fresh-clips, deferred-feedback), steady-state (the defaults with the starter
library spent: every control a fresh clip), the defences against a recipe-trained listener one at a time on
fresh clips (public-recipe, own-recipe, serving-noise, machine-hard, adversarial), or one of your own from
--set assignments (every INSIDEOUT_* setting the app reads; named by --set-name; --fresh-only). Prints the
table (pass rate, Wilson 95 % interval, chance, control accuracy, clips it got into the learning pool)
and writes the JSON report and the plot. It plays against no data dir of yours: it only stores the report
in INSIDEOUT_DATA_DIR's metadata store, where the admin dashboard's Bot lab shows it, when that data dir
already has one (--no-store: not even that).

--url plays a running server instead (one policy, named with --policies): pass rates only, since the truth
of its clips is the server's own.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context


def policy(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise argparse.ArgumentTypeError(f"a policy is K/N with 1 <= K <= N (pass K of at most N rounds), not {text!r}")
    return int(match[1]), int(match[2])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from insideout.botlab.attackers import ATTACKERS
    from insideout.botlab.evaluation import CONFIGURATIONS
    from insideout.cli import EXIT_CODES

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    ev = actions.add_parser("evaluate", help="play attackers against policies and report pass rates",
                            description=__doc__, epilog=EXIT_CODES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    ev.add_argument("--attackers", nargs="+", choices=sorted(ATTACKERS), default=["random", "sybil", "sybil-every"])
    ev.add_argument("--policies", nargs="+", type=policy, default=[(1, 3), (2, 3), (3, 3)], metavar="K/N",
                    help="pass K of at most N rounds (default: 1/3 2/3 3/3)")
    ev.add_argument("--configurations", nargs="*", choices=sorted(CONFIGURATIONS), default=None,
                    help="named configurations (default: today, or none when --set is given)")
    ev.add_argument("--set", action="append", default=[], metavar="INSIDEOUT_NAME=VALUE", dest="assignments",
                    help="a setting of a configuration of your own (repeatable), played after the named ones")
    ev.add_argument("--set-name", default="custom", help="the name of the --set configuration (default: custom)")
    ev.add_argument("--fresh-only", action="store_true",
                    help="the --set configuration starts without the starter library's play clips: every control "
                         "is a fresh clip of the deployment's own recipe (a site past its first days)")
    ev.add_argument("--challenges", type=int, default=300, help="challenges per attacker and cell")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--out", type=Path, default=Path("botlab-report.json"), help="the JSON report")
    ev.add_argument("--plot", type=Path, default=Path("botlab-report.png"), help="the PNG of pass rates")
    ev.add_argument("--library-cache", type=Path,
                    help="keep the built starter library here and reuse it next time (default: this run only)")
    ev.add_argument("--starter-per-emotion", type=int, default=30,
                    help="starter clips per emotion, play and unverified together (30: the app's own)")
    ev.add_argument("--unverified-share", type=float, default=0.2)
    ev.add_argument("--url", help="play a running server instead of one of its own (pass rates only; give its one "
                                  "policy with --policies; a server that does not trust this host as its proxy "
                                  "sees one client, and its rate limits apply)")
    ev.add_argument("--no-store", action="store_true",
                    help="do not store the report in the data dir's metadata store (the admin's Bot lab)")
    fe = actions.add_parser("features", help="measure the acoustic attacker's feature sets",
                            description="Render the acoustic attacker's recipe and the starter library's plan "
                                        "in memory, then print each feature set's grouped cross-validated "
                                        "accuracy on the recipe and its accuracy on the starter clips (the "
                                        "measurement that chose the attacker's features; minutes).",
                            epilog=EXIT_CODES)
    fe.add_argument("--recipe-per-emotion", type=int, default=64, help="recipe sentences (each in 8 emotions)")
    fe.add_argument("--starter-per-emotion", type=int, default=30)
    fe.add_argument("--seed", type=int, default=0)
    cu = actions.add_parser("cues", help="measure each emotion's cues under the fresh-clip and serving defences",
                            description="Render sentences in every emotion twice, clean (the public recipe) and "
                                        "defended (the deployment's recipe from the PRESET_VARIATION and CLIP_* "
                                        "settings, then one serving's SERVE_* transforms), measure F0 level and "
                                        "range, rate and energy against the clean neutral clip, and print each "
                                        "emotion's mean departure from neutral clean and defended, whether it stays "
                                        "within 20 %% of the clean one, and how often a clip's cue points the other "
                                        "way. Settings come from the environment and --set.",
                            epilog=EXIT_CODES)
    cu.add_argument("--per-emotion", type=int, default=12, help="sentences, each in every emotion (default 12)")
    cu.add_argument("--set", action="append", default=[], metavar="INSIDEOUT_NAME=VALUE", dest="assignments",
                    help="a setting to measure under (repeatable); the rest from the environment")
    cu.add_argument("--seed", type=int, default=0)
    cu.add_argument("--json", type=Path, help="write the rows here as JSON")


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.action == "features":
        return features(args)
    if args.action == "cues":
        return cues(args)
    return evaluate_command(args, ctx)


def features(args: argparse.Namespace) -> int:
    from insideout.botlab.attackers.acoustic import Recipe, render_examples
    from insideout.botlab.classifier import compare_feature_sets, rendered_starter_examples

    if args.recipe_per_emotion < 2 or args.starter_per_emotion < 1:
        raise CommandError("--recipe-per-emotion must be at least 2 and --starter-per-emotion at least 1")
    print("rendering the recipe and the starter plan ...", file=sys.stderr, flush=True)
    train = render_examples(Recipe(args.recipe_per_emotion, args.seed))
    test = rendered_starter_examples(args.starter_per_emotion)
    print(f"feature set       n   CV on {len(train)} recipe clips   on {len(test)} starter clips   ms/clip")
    for row in compare_feature_sets(train, test):
        cv = "n/a" if row["cv_accuracy"] is None else f"{row['cv_accuracy']:.1%}"
        print(f"{row['feature_set']:<16} {row['features']:>3}   {cv:>22}   {row['test_accuracy']:>20.1%}   "
              f"{row['extract_ms_per_clip']:>7}")
    return 0


def cues(args: argparse.Namespace) -> int:
    import random
    import secrets
    from dataclasses import replace

    import numpy as np

    from insideout import wav
    from insideout.botlab import cues as cue_check
    from insideout.captcha import serving_of
    from insideout.corpus.synth import available_voices, render_clip
    from insideout.restock import Sentences, variation_of
    from insideout.settings import SettingsError, setting_changes, settings_from_env

    if args.per_emotion < 1:
        raise CommandError("--per-emotion must be at least 1")
    try:
        pairs = dict(text.partition("=")[::2] for text in args.assignments)
        settings = replace(settings_from_env(), **setting_changes(pairs))
    except (ValueError, SettingsError) as e:
        raise CommandError(f"--set: {e}") from None
    settings = replace(settings, secret_key=settings.secret_key or secrets.token_urlsafe(32))
    variation, serving = variation_of(settings), serving_of(settings)
    rng = np.random.default_rng(args.seed)

    def served(wave: np.ndarray, how: wav.Serving) -> np.ndarray:
        return wav.vary_for_serving(wav.to_storage(wave, wav.SAMPLE_RATE), rng, how).astype(np.float32) / 32767

    def clean(sentence: str, emotion: str, voice: str, seed: int) -> np.ndarray:
        # served too (16-bit, edge silence, dither), unchanged in sound: only the defences differ
        return served(render_clip(sentence, emotion, voice, seed)[0], wav.Serving(gain_db=0.0))

    def defended(sentence: str, emotion: str, voice: str, seed: int) -> np.ndarray:
        return served(render_clip(sentence, emotion, voice, seed, variation)[0], serving)

    def progress(done: int, total: int) -> None:
        print(f"\r  {done}/{total} sentence-emotions", end="", file=sys.stderr, flush=True)

    supply = Sentences(random.Random(args.seed))  # the same sentences for a seed: runs compare
    sentences = [supply.next() for _ in range(args.per_emotion)]
    started = time.perf_counter()
    rows = cue_check.measure_shifts(sentences, available_voices(), args.seed, clean, defended, progress)
    print(file=sys.stderr)
    print(f"recipe: {variation.describe()}; serving: {serving}")
    print(cue_check.table(rows))
    summary = cue_check.summary(rows)
    print(f"{summary['kept']} of {summary['cues']} cues kept within {cue_check.BOUND:.0%} (largest change "
          f"{summary['largest_change']:.0%}); clips whose cue points the other way: "
          f"{summary['flipped_clean']:.0%} clean, {summary['flipped_defended']:.0%} defended "
          f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"variation": variation.describe(), "serving": vars(serving),
                                         "summary": summary, "rows": [r.as_dict() for r in rows]}, indent=2))
    return 0


def evaluate_command(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.botlab.arena import ArenaError
    from insideout.botlab.attackers import ATTACKERS
    from insideout.botlab.evaluation import CONFIGURATIONS, configuration_from_settings, evaluate, plot
    from insideout.corpus.starter import StarterConfig
    from insideout.settings import SettingsError

    if args.challenges < 1:
        raise CommandError("--challenges must be at least 1")
    if args.url and len(args.policies) != 1:
        raise CommandError("with --url, give the server's one policy: --policies K/N")
    names = args.configurations if args.configurations is not None else ([] if args.assignments else ["today"])
    configurations = [CONFIGURATIONS[name] for name in names]
    if args.assignments:
        if args.set_name in names:
            raise CommandError(f"--set-name {args.set_name} is a named configuration already: choose another name")
        try:
            configurations.append(configuration_from_settings(args.set_name, args.assignments, args.fresh_only))
        except (ValueError, SettingsError) as e:
            raise CommandError(f"--set: {e}") from None
    if not configurations:
        raise CommandError("no configuration to play: name one with --configurations or give --set")
    if args.starter_per_emotion < 1 or not 0 <= args.unverified_share < 1:
        raise CommandError("--starter-per-emotion must be at least 1 and --unverified-share in [0, 1)")
    # The library's own seed stays the app's (0): --seed varies the attackers, not what they hear.
    library = StarterConfig(clips_per_emotion=args.starter_per_emotion, unverified_share=args.unverified_share)
    play_clips = args.starter_per_emotion - round(args.starter_per_emotion * args.unverified_share)
    if play_clips * 8 < max(n for _, n in args.policies):
        raise CommandError(f"a {max(n for _, n in args.policies)}-round policy needs more play clips than "
                           f"{play_clips * 8}: raise --starter-per-emotion")

    store = not args.no_store and _has_metadata(ctx)  # settings checked now, before minutes of play

    def progress(cell) -> None:
        print(f"  {cell.attacker} {cell.configuration} {cell.policy}: {cell.passes}/{cell.n} passed "
              f"in {cell.wall_s:.0f} s", file=sys.stderr, flush=True)

    try:
        report = evaluate({name: ATTACKERS[name] for name in args.attackers}, tuple(args.policies),
                          tuple(configurations), args.challenges, args.seed,
                          library, args.library_cache, progress, url=args.url)
    except ArenaError as e:
        raise CommandError(f"the server refused to play ({e}); against your own server, lift its "
                           "INSIDEOUT_RATE_LIMIT_PER_MIN and INSIDEOUT_REQUEST_LIMIT_PER_MIN for the run") from None
    print(report.table())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report.as_dict(), indent=2))
    plot(report, args.plot)
    print(f"wrote {args.out} and {args.plot} ({report.meta['wall_s']:.0f} s)")
    if store:
        services = ctx.services()
        evaluation_id = services.db.add_bot_evaluation(report.as_dict(), time.time())
        print(f"stored as evaluation {evaluation_id} in {services.settings.metadata_where} (the admin's Bot lab)")
    return 0


def _has_metadata(ctx: Context) -> bool:
    """Whether INSIDEOUT_DATA_DIR already holds a metadata store: a report is kept there for the dashboard,
    but an evaluation never creates a data dir of its own accord."""
    from insideout.settings import settings_from_env

    settings = settings_from_env()
    path = settings.db_path
    if settings.metadata == "sqlite" and not path.exists():
        print(f"no metadata store at {path}: the report is not stored for the dashboard", file=sys.stderr)
        return False
    ctx.settings()
    return True
