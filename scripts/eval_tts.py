"""Evaluate an acoustic model on held-out sentences: what the model card reports.

    python scripts/eval_tts.py --checkpoint models/tacotron2-emotion.pt [--per-emotion 3] [--workdir DIR]

Held-out data: sentences of data/sentences.txt (hand-written, never among the teacher corpus's
template sentences), rendered by the starter library's voices and emotion presets: the teacher's
rendering of the same sentence and emotion. Reports
- teacher-forced: log-mel L1 after the postnet, stop-gate BCE, attention diagonality (1 = all on the
  diagonal), from insideout.tts.train.evaluate;
- free-running: the share of sentences the decoder ends by itself before its step limit, and the
  median ratio of generated to teacher length.
Word error rate (offline recognition) and emotion recognizability (a classifier) are not measured yet.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from insideout.corpus.starter import load_sentences  # noqa: E402
from insideout.corpus.synth import available_voices, render_clip  # noqa: E402
from insideout.emotions import EMOTION_IDS  # noqa: E402
from insideout.tts import tacotron2 as t2  # noqa: E402
from insideout.tts.train import evaluate, wave_item  # noqa: E402


def held_out(per_emotion: int, seed: int = 1) -> list[tuple[str, str, str, np.ndarray]]:
    sentences, voices = load_sentences(), available_voices()
    rng = np.random.default_rng(seed)
    out = []
    for e, emotion_id in enumerate(EMOTION_IDS):
        for k in range(per_emotion):
            text = sentences[int(rng.integers(len(sentences)))]
            voice = voices[(e + k) % len(voices)]
            wave, _ = render_clip(text, emotion_id, voice, seed * 1000 + e * 10 + k)
            out.append((text, emotion_id, voice, wave))
    return out


def free_running(acoustic: t2.AcousticModel, data) -> dict:
    stopped, ratios = 0, []
    limit = acoustic.model.config.decoder_max_step
    for text, emotion_id, _voice, wave in data:
        tokens = torch.tensor([acoustic.frontend.encode(text)])
        _, lengths, _ = acoustic.model.infer(tokens, torch.tensor([tokens.shape[1]]),
                                             torch.tensor([EMOTION_IDS.index(emotion_id)]))
        frames = int(lengths[0])
        stopped += frames < limit
        ratios.append(frames / (len(wave) / 256))
    return {"stopped_share": round(stopped / len(data), 3), "median_length_ratio": round(float(np.median(ratios)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="models/tacotron2-emotion.pt")
    parser.add_argument("--per-emotion", type=int, default=3)
    parser.add_argument("--workdir", help="mel cache folder (default: a temp dir)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = held_out(args.per_emotion)
    items = [wave_item(wave, text, emotion_id) for text, emotion_id, _v, wave in data]
    with tempfile.TemporaryDirectory() as tmp:
        teacher_forced = evaluate(args.checkpoint, items, args.workdir or tmp)
    acoustic = t2.load(args.checkpoint)
    report = {"checkpoint": args.checkpoint, "version": acoustic.version, "held_out_clips": len(data),
              "teacher_forced": teacher_forced, "free_running": free_running(acoustic, data)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
