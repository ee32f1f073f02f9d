"""Real-time factors of speech synthesis on this machine: the acoustic model, the vocoder and both,
at batch 1 and 8, with peak memory, beside Piper's end-to-end RTF on the same sentences.

    insideout bench-tts [--checkpoint PATH] [--preset small|default] [--seconds 2.5]

RTF = compute time / audio duration (below 1 is faster than real time). Without a trained checkpoint
the acoustic model is the preset's architecture, untrained, made to decode exactly --seconds of audio
per sentence (its stop gate is switched off), so its speed is measured on realistic lengths.
"""

from __future__ import annotations

import argparse
import resource
import time
from typing import TYPE_CHECKING

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context
    from insideout.tts import tacotron2 as t2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint")
    # The presets are checked in run: listing them here would import torch for --help.
    parser.add_argument("--preset", default="small", help="small or default (tacotron2.PRESETS)")
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def acoustic_model(args: argparse.Namespace) -> t2.AcousticModel:
    import torch

    from insideout.tts import tacotron2 as t2
    from insideout.tts.mel import MEL
    from insideout.tts.text import PHONEMES

    if args.checkpoint:
        return t2.load(args.checkpoint)
    frames = int(args.seconds * MEL.sample_rate / MEL.hop_length)
    config = t2.Tacotron2Config(**{**t2.PRESETS[args.preset].__dict__, "decoder_max_step": frames})
    model = t2.EmotionTacotron2(config).eval()
    with torch.no_grad():  # never stop: decode exactly `frames` frames
        model.backbone.decoder.gate_layer.weight.zero_()
        model.backbone.decoder.gate_layer.bias.fill_(-20.0)
    return t2.AcousticModel(model, PHONEMES, "untrained", {"preset": args.preset})


def timed(repeats: int, fn, *args):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return out, best


def run(args: argparse.Namespace, ctx: Context) -> int:
    import torch

    from insideout.emotions import EMOTION_IDS
    from insideout.sentences import load_sentences
    from insideout.tts import tacotron2 as t2
    from insideout.tts.hifigan import shared_vocoder
    from insideout.tts.mel import MEL
    from insideout.tts.synthesize import Synthesizer, encode_batch

    if args.preset not in t2.PRESETS:
        raise CommandError(f"--preset {args.preset!r}: choose from {', '.join(sorted(t2.PRESETS))}")
    torch.set_num_threads(args.threads)
    sentences = load_sentences()[:8]
    acoustic = acoustic_model(args)
    vocoder = shared_vocoder("universal")
    synthesizer = Synthesizer(acoustic, vocoder)
    print(f"acoustic model: {acoustic.version} ({acoustic.parameter_count() / 1e6:.1f}M parameters), "
          f"vocoder: {vocoder.name}, {args.threads} threads")
    rows = []
    for batch in (1, 8):
        texts = sentences[:batch]
        emotions = [EMOTION_IDS[i % 8] for i in range(batch)]
        _, padded, lengths, emotion_ids = encode_batch(acoustic.frontend, texts, emotions)
        (mels, mel_lengths, _), t_acoustic = timed(args.repeats, acoustic.model.infer, padded, lengths, emotion_ids)
        audio_s = float(mel_lengths.sum()) * MEL.hop_length / MEL.sample_rate
        clips = [mels[row, :, : int(mel_lengths[row])] for row in range(batch)]
        _, t_vocoder = timed(args.repeats, lambda clips: [vocoder(m) for m in clips], clips)  # as Synthesizer does
        _, t_total = timed(args.repeats, synthesizer.synthesize, texts, emotions)
        rows.append((batch, audio_s, t_acoustic / audio_s, t_vocoder / audio_s, t_total / audio_s))
    from insideout.corpus.synth import render_clip

    piper_audio, piper_time = 0.0, 0.0
    render_clip(sentences[0], "neutral", "piper-joe", 0)  # load the voice first
    for i, sentence in enumerate(sentences):
        t0 = time.perf_counter()
        wave, _ = render_clip(sentence, "neutral", "piper-joe", i)
        piper_time += time.perf_counter() - t0
        piper_audio += len(wave) / 22050
    print("\n| batch | audio s | acoustic RTF | vocoder RTF | end-to-end RTF |")
    print("|---|---|---|---|---|")
    for batch, audio_s, rtf_a, rtf_v, rtf_e in rows:
        print(f"| {batch} | {audio_s:.1f} | {rtf_a:.3f} | {rtf_v:.3f} | {rtf_e:.3f} |")
    print(f"\nPiper (joe, with the starter library's WORLD processing) end-to-end RTF on the same "
          f"sentences: {piper_time / piper_audio:.3f}")
    print(f"peak memory (RSS): {peak_rss_mb():.0f} MB")
    return 0
