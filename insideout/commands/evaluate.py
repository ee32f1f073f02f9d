"""Evaluate an acoustic model on held-out sentences: what the model card reports.

    insideout eval [--checkpoint models/tacotron2-emotion.pt] [--per-emotion 6] [--out report.json] [--plot PNG]

Without --checkpoint it evaluates the model the app generates with: the version the admin made active, else
INSIDEOUT_TTS_CHECKPOINT, else the shipped default. The report (JSON) goes to stdout, progress to stderr.

Metrics (insideout/tts/evaluation.py): teacher-forced log-mel L1, stop-gate BCE and attention diagonality;
free-running stop share and length ratio; word error rate of offline recognition (pocketsphinx) on the
generated clips beside the teacher's clips of the same sentences and emotions; and the share of generated
clips whose intended emotion the bot lab's acoustic classifier names (chance 12.5 %), beside the teacher's;
and DNSMOS's overall quality estimate of the generated, teacher and starter clips; and the clips' prosody per
emotion (pitch, range, final rise, level, tempo against the voice's neutral) beside the teacher's, with the
share of the teacher's contrast the model reproduces (a table on stderr, "prosody" in the report); WER per
teacher voice; and how much pitch detail (harmonic ripple below 1 kHz) the model's mels carry beside the
teacher clips'.

The classifier is trained on the starter library (the starter plan rendered in memory, about a minute, or
with --from-library INSIDEOUT_DATA_DIR's starter clips) and on those clips' copies through the vocoder
(about 3 minutes), so that the vocoder's own sound is no emotion cue; it is kept in --classifier-cache.
With --judge-corpus DIR it is trained instead on --judge-per-emotion clips of each emotion of a teacher
corpus (and their vocoded copies): the teacher's own renderings, more of them; the starter clips are then
only DNSMOS's. --judge-features picks the classifier's features: librosa's 56 (the default), openSMILE's 88
eGeMAPS functionals, or both; on 150 teacher clips per emotion both named 85.4 % of the teacher's held-out clips
where librosa's named 75.0 % (the model card).

    insideout eval --checkpoint models/tacotron2-emotion.pt --judge-corpus runs/teacher --judge-per-emotion 60
    insideout eval --judge-corpus runs/teacher --judge-per-emotion 150 --judge-features egemaps+librosa
                   --classifier-cache data/botlab/strong-judge.pkl
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import CommandError
from insideout.settings import PROSODY_GUIDES

if TYPE_CHECKING:
    from insideout.botlab.classifier import Example
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", help="default: the model the app generates with")
    parser.add_argument("--per-emotion", type=int, default=6, help="held-out sentences per emotion (6: 48 clips)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--vocoder", default="universal")
    parser.add_argument("--strength", type=float, metavar="X",
                        help="the emotion strength the model speaks at (default: INSIDEOUT_EMOTION_STRENGTH's)")
    parser.add_argument("--takes", type=int, default=1, metavar="K",
                        help="an experiment: speak each sentence K times and score the take whose F0 is nearest its "
                             "emotion's register (the model card's Prosody section); 1, as generation speaks")
    parser.add_argument("--guide", choices=PROSODY_GUIDES, default=None,
                        help="the prosody guide to speak with (insideout/tts/guide.py; default: "
                             "INSIDEOUT_PROSODY_GUIDE's)")
    parser.add_argument("--postfilter", type=float, metavar="BETA",
                        help="the mel postfilter's formant emphasis, 0 (none) to 1 (insideout/tts/postfilter.py; "
                             "default: its BETA, as generation speaks)")
    parser.add_argument("--refiner", metavar="PATH|off",
                        help="the mel refiner the pitch-guided mels go through (insideout/tts/refiner.py; default: "
                             "INSIDEOUT_MEL_REFINER's, the shipped models/mel-refiner.pt unless set)")
    parser.add_argument("--no-emotion", action="store_true", help="skip the classifier (and its training)")
    parser.add_argument("--from-library", action="store_true",
                        help="train the classifier on INSIDEOUT_DATA_DIR's starter clips instead of the rendered plan")
    parser.add_argument("--classifier-cache", type=Path, default=Path("data/botlab/emotion-classifier.pkl"))
    parser.add_argument("--judge-corpus", type=Path,
                        help="train the classifier on this teacher corpus (manifest.jsonl), not the starter clips")
    parser.add_argument("--judge-per-emotion", type=int, default=60,
                        help="teacher-corpus clips per emotion for the classifier (default 60)")
    parser.add_argument("--judge-seed", type=int, default=1,
                        help="which teacher-corpus clips the classifier trains on (default 1, whatever --seed: one "
                             "judge for every draw of held-out sentences, none of which the corpus speaks)")
    parser.add_argument("--judge-features", metavar="SET",
                        help="the classifier's features: librosa (the default), egemaps or egemaps+librosa")
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--plot", type=Path, metavar="PNG",
                        help="also plot the prosody per emotion, generated beside teacher, to this PNG")
    parser.add_argument("--threads", type=int, default=2)


def starter_examples(ctx: Context, use_library: bool, for_classifier: bool = True,
                     per_emotion: int = 6) -> list[Example]:
    """The starter clips: the classifier's training set, and the clips whose DNSMOS is reported. Without a
    classifier to train, only as many are rendered as DNSMOS scores (as many as the held-out clips, 48 at
    most, where the plan has 240: a minute less)."""
    from insideout.botlab import classifier as emotion_classifier
    from insideout.emotions import EMOTION_IDS
    from insideout.tts.evaluation import STARTER_MOS_CLIPS

    if use_library:
        examples = emotion_classifier.starter_examples(ctx.services().library)
        if examples:
            print(f"starter: {len(examples)} starter clips of the library", file=sys.stderr)
            return examples
    print("starter: rendering the starter library's plan", file=sys.stderr)
    if not for_classifier:
        most = min(per_emotion, STARTER_MOS_CLIPS // len(EMOTION_IDS))
        return emotion_classifier.rendered_starter_examples(clips_per_emotion=max(1, most))
    return emotion_classifier.rendered_starter_examples()


def run(args: argparse.Namespace, ctx: Context) -> int:
    import torch

    from insideout.botlab import classifier as emotion_classifier
    from insideout.botlab.features import DEFAULT_FEATURE_SET, FEATURE_SETS
    from insideout.settings import settings_from_env
    from insideout.tts import tacotron2 as t2
    from insideout.tts.evaluation import evaluate_model
    from insideout.tts.postfilter import check_beta
    from insideout.tts.prosody import format_table as format_prosody
    from insideout.tts.prosody import plot as plot_prosody
    from insideout.tts.refiner import RefinerError, shared_refiner

    # An explicit path needs no data dir; otherwise the app's own choice, which may be the admin's version.
    checkpoint = args.checkpoint or ctx.services().checkpoint(None)
    settings = settings_from_env()
    strength = settings.emotion_strength if args.strength is None else args.strength
    guide = settings.prosody_guide if args.guide is None else args.guide
    refiner = settings.mel_refiner if args.refiner is None else args.refiner
    try:
        shared_refiner(refiner)  # a missing or damaged file is refused before the minutes of work
    except RefinerError as e:
        raise CommandError(f"--refiner: {e}") from None
    if not 0.0 <= strength <= 3.0:
        raise CommandError(f"--strength must be from 0 to 3, got {strength}")
    if not 1 <= args.takes <= 8:
        raise CommandError(f"--takes must be from 1 to 8, got {args.takes}")
    if args.postfilter is not None:
        try:
            check_beta(args.postfilter)
        except ValueError as e:
            raise CommandError(f"--postfilter: {e}") from None
    features = args.judge_features or DEFAULT_FEATURE_SET
    if features not in FEATURE_SETS:
        raise CommandError(f"--judge-features {features}: expected one of {', '.join(FEATURE_SETS)}")
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    classifier = None
    judge_corpus = None if args.no_emotion else args.judge_corpus
    examples = starter_examples(ctx, args.from_library, for_classifier=not args.no_emotion and judge_corpus is None,
                                per_emotion=args.per_emotion)
    if not args.no_emotion:
        judged = examples
        if judge_corpus is not None:
            judged = emotion_classifier.corpus_examples(judge_corpus, args.judge_per_emotion, args.judge_seed)
            print(f"classifier: {len(judged)} clips of the teacher corpus {judge_corpus}", file=sys.stderr)
        classifier = emotion_classifier.cached_fit(judged, args.classifier_cache, args.vocoder,
                                                   feature_set=features)
        print(f"classifier: trained on {classifier.trained_on} clips, grouped 5-fold accuracy "
              f"{classifier.cv_accuracy}", file=sys.stderr)
    # stdout carries only the report: libraries that print while loading (the vocoder) go to stderr
    with contextlib.redirect_stdout(sys.stderr):
        metrics = evaluate_model(checkpoint, classifier, args.per_emotion, args.seed, args.vocoder,
                                 progress=lambda message: print(message, file=sys.stderr, flush=True),
                                 starter=[(e.wave, e.sample_rate) for e in examples], strength=strength,
                                 takes=args.takes, guide=guide, postfilter=args.postfilter,
                                 refiner=refiner)
    report = {"checkpoint": checkpoint, "version": t2.load(checkpoint).version,
              "seconds": round(time.monotonic() - started, 1), **metrics}
    if classifier is not None:
        report["judge"] = {"trained_on": classifier.trained_on, "features": classifier.feature_set,
                           "corpus": None if judge_corpus is None else str(judge_corpus),
                           "per_emotion": args.judge_per_emotion if judge_corpus is not None else None,
                           **({"seed": args.judge_seed} if judge_corpus is not None else {})}
    text = json.dumps(report, indent=2)
    print("prosody, generated / teacher clips (insideout/tts/prosody.py):", file=sys.stderr)
    print(format_prosody(report["prosody"]), file=sys.stderr)
    teacher_wer = report["teacher_wer_by_voice"]
    print("WER per voice, generated / teacher: " + ", ".join(
        f"{voice} {wer:.1%} / {teacher_wer[voice]:.1%}" for voice, wer in report["wer_by_voice"].items()),
        file=sys.stderr)
    if report["mel_ripple_db"] is not None:
        print(f"pitch detail in the mels (harmonic ripple below 1 kHz): {report['mel_ripple_db']:.2f} dB, "
              f"the teacher clips' {report['teacher_mel_ripple_db']:.2f} dB", file=sys.stderr)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.plot:
        plot_prosody(report["prosody"], args.plot,
                     f"prosody of {report['version']} at strength {strength:g} beside the teacher's (seed {args.seed})")
        print(f"prosody plot: {args.plot}", file=sys.stderr)
    return 0
