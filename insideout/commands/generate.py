"""Generate clips with the acoustic model and send them to the crowd (the unverified pool).

    insideout generate --count 16 [--emotions happy sad ...] [--sentences-file FILE]
                       [--checkpoint PATH_OR_URL] [--voice rotate|blend|VOICE] [--seed 0]

The library is INSIDEOUT_DATA_DIR's. The model is --checkpoint, else the version the admin made active,
else INSIDEOUT_TTS_CHECKPOINT, else the shipped default: the app's rule (insideout.generation). --voice picks
the model's speaker: rotate (its voices in turn, the default), blend (no speaker input) or one voice; a
model's voices are listed when a wrong one is named. It speaks at INSIDEOUT_EMOTION_STRENGTH, with
INSIDEOUT_PROSODY_GUIDE (the pitch guide by default: a model without speakers asked to rotate is pitched about the
starter voices' registers in turn). Each clip records its intended emotion (never trusted), its speaker, the
emotion strength, the guide (and with the pitch guide, the register's voice) and the model version. Exit 1 when no
clip was made; 2 when the request or the model is refused before any work.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import CommandError
from insideout.emotions import EMOTION_IDS

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--emotions", nargs="+", default=list(EMOTION_IDS), choices=EMOTION_IDS)
    parser.add_argument("--sentences-file", help="one sentence per line (default: data/sentences.txt)")
    parser.add_argument("--checkpoint", help="acoustic model path or URL (wins over the active version)")
    parser.add_argument("--voice", default="rotate", help="rotate (default), blend, or one of the model's voices")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace, ctx: Context) -> int:
    from tqdm import tqdm

    from insideout.generation import GenerationError, GenerationRequest, voices_for
    from insideout.tts.synthesize import SynthesisError
    from insideout.tts.tacotron2 import CheckpointError

    ctx.settings()
    try:
        sentences = ()
        if args.sentences_file:
            sentences = tuple(Path(args.sentences_file).read_text(encoding="utf-8").splitlines())
        request = GenerationRequest(args.count, tuple(args.emotions), sentences, args.seed, voice=args.voice)
        request.plan()
        generation = ctx.services().generation
        checkpoint = generation.checkpoint(args.checkpoint)  # chosen once, for the check and the run
        synthesizer = generation.synthesizer(checkpoint)  # a missing model is refused before any clip
        voices_for(request.voice, synthesizer.voices, 1)  # and a voice it does not have
    except (GenerationError, SynthesisError, CheckpointError, OSError) as e:
        raise CommandError(str(e)) from None
    bar = tqdm(total=args.count, desc="generating", unit="clip")
    report = generation.run(request, checkpoint, progress=lambda done, total: bar.update(done - bar.n))
    bar.close()
    summary = report.as_dict()
    voices = ", ".join(synthesizer.voices) or "none: one blended voice"
    print(f"made {summary['made']} clips (model {synthesizer.version}, voice {request.voice}; its voices: {voices}; "
          f"emotion strength {synthesizer.strength}), "
          f"{summary['failed']} failed")
    for failure in summary["failures"]:
        print(f"  failed {failure}")
    return 0 if summary["made"] else 1
