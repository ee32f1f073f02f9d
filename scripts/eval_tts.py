"""Evaluate an acoustic model on held-out sentences: what the model card reports.

    python scripts/eval_tts.py --checkpoint models/tacotron2-emotion.pt [--per-emotion 3] [--out report.json]

Metrics (insideout/tts/evaluation.py): teacher-forced log-mel L1, stop-gate BCE and attention diagonality;
free-running stop share and length ratio; word error rate of offline recognition (pocketsphinx) on the
generated clips beside the teacher's clips of the same sentences and emotions; and the share of generated
clips whose intended emotion the bot lab's acoustic classifier names (chance 12.5 %), beside the teacher's.

The classifier is trained on the starter library (the starter plan rendered in memory, about a minute, or
with --from-library INSIDEOUT_DATA_DIR's starter clips) and on those clips' copies through the vocoder
(about 3 minutes), so that the vocoder's own sound is no emotion cue; it is kept in --classifier-cache.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from insideout.botlab import classifier as emotion_classifier  # noqa: E402
from insideout.tts.evaluation import evaluate_model  # noqa: E402


def starter_examples(use_library: bool) -> list[emotion_classifier.Example]:
    if use_library:
        from insideout.services import build_services
        from insideout.settings import load_settings

        examples = emotion_classifier.starter_examples(build_services(load_settings()).library)
        if examples:
            print(f"classifier: {len(examples)} starter clips of the library", file=sys.stderr)
            return examples
    print("classifier: rendering the starter library's plan", file=sys.stderr)
    return emotion_classifier.rendered_starter_examples()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="models/tacotron2-emotion.pt")
    parser.add_argument("--per-emotion", type=int, default=3, help="held-out sentences per emotion")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--vocoder", default="universal")
    parser.add_argument("--no-emotion", action="store_true", help="skip the classifier (and its training)")
    parser.add_argument("--from-library", action="store_true",
                        help="train the classifier on INSIDEOUT_DATA_DIR's starter clips instead of the rendered plan")
    parser.add_argument("--classifier-cache", type=Path, default=Path("data/botlab/emotion-classifier.pkl"))
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    classifier = None
    if not args.no_emotion:
        classifier = emotion_classifier.cached_fit(starter_examples(args.from_library), args.classifier_cache,
                                                   args.vocoder)
        print(f"classifier: trained on {classifier.trained_on} clips, grouped 5-fold accuracy "
              f"{classifier.cv_accuracy}", file=sys.stderr)
    # stdout carries only the report: libraries that print while loading (the vocoder) go to stderr
    with contextlib.redirect_stdout(sys.stderr):
        metrics = evaluate_model(args.checkpoint, classifier, args.per_emotion, args.seed, args.vocoder,
                                 progress=lambda message: print(message, file=sys.stderr, flush=True))
    from insideout.tts import tacotron2 as t2

    report = {"checkpoint": args.checkpoint, "version": t2.load(args.checkpoint).version,
              "seconds": round(time.monotonic() - started, 1), **metrics}
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
