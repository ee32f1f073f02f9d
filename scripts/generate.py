"""Generate clips with the acoustic model and send them to the crowd (the unverified pool).

    python scripts/generate.py --count 16 [--emotions happy sad ...] [--sentences-file FILE]
                               [--checkpoint PATH_OR_URL] [--seed 0]

The library is INSIDEOUT_DATA_DIR's; the model is --checkpoint, else INSIDEOUT_TTS_CHECKPOINT, else the
shipped default. Each clip records its intended emotion (never trusted) and the model version.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm  # noqa: E402

from insideout.emotions import EMOTION_IDS  # noqa: E402
from insideout.services import build_services  # noqa: E402
from insideout.settings import SettingsError, load_settings  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--emotions", nargs="+", default=list(EMOTION_IDS), choices=EMOTION_IDS)
    parser.add_argument("--sentences-file", help="one sentence per line (default: data/sentences.txt)")
    parser.add_argument("--checkpoint", help="acoustic model path or URL")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from insideout.tts.generate import GenerationError, GenerationRequest, generate
    from insideout.tts.synthesize import SynthesisError
    from insideout.tts.tacotron2 import CheckpointError

    try:
        settings = load_settings()
        if args.checkpoint:
            settings = replace(settings, tts_checkpoint=args.checkpoint)
        sentences = ()
        if args.sentences_file:
            sentences = tuple(Path(args.sentences_file).read_text(encoding="utf-8").splitlines())
        request = GenerationRequest(args.count, tuple(args.emotions), sentences, args.seed)
        request.plan()
        services = build_services(settings)
        synthesizer = services.synthesizer()
    except (SettingsError, GenerationError, SynthesisError, CheckpointError, OSError) as e:
        print(f"generate: {e}", file=sys.stderr)
        return 2
    bar = tqdm(total=args.count, desc="generating", unit="clip")
    report = generate(services.library, synthesizer, request,
                      progress=lambda done, total: bar.update(done - bar.n))
    bar.close()
    summary = report.as_dict()
    print(f"made {summary['made']} clips (model {synthesizer.version}), {summary['failed']} failed")
    for failure in summary["failures"]:
        print(f"  failed {failure}")
    return 0 if summary["made"] else 1


if __name__ == "__main__":
    sys.exit(main())
