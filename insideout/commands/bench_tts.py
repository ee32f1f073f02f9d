"""Real-time factors of speech synthesis on this machine: the acoustic model, the vocoder and both (without a
guide, with the pitch guide, with pitch and tempo, and with the pitch guide and the mel refiner, generation's
default), at batch 1 and 8, with peak memory,
beside Piper's end-to-end RTF on the same sentences. The vocoder is timed as synthesis runs it (ONNX Runtime, clips
of a batch side by side) and, beside it, in torch.

    insideout bench-tts [--checkpoint PATH] [--preset small|default] [--seconds 2.5] [--int8] [--vocoder lite]

--vocoder NAME (lite, LJSpeech or a checkpoint path; repeatable) times that vocoder too, in the same run, and
compares the vocoders' quality: each one's DNSMOS on the clips synthesized for the timing, and each one's
copy-synthesis of teacher clips (their mel through the vocoder): log-mel L1 to the original and DNSMOS.

--int8 also tries V1 quantized to int8 (ONNX Runtime static quantization, calibrated on teacher speech): a
row of that quality table, beside fp32. Synthesis ships fp32 because of it.

RTF = compute time / audio duration (below 1 is faster than real time). Without a trained checkpoint
the acoustic model is the preset's architecture, untrained, made to decode exactly --seconds of audio
per sentence (its stop gate is switched off), so its speed is measured on realistic lengths.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
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
    parser.add_argument("--refiner", type=Path,
                        help="the mel refiner timed after the pitch guide (default: the shipped one)")
    parser.add_argument("--int8", action="store_true", help="also measure an int8 vocoder's speed and quality")
    parser.add_argument("--vocoder", action="append", help="also time this vocoder (lite, or a checkpoint path) "
                        "beside V1, and compare their quality (repeatable)")


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


GUIDES_TIMED = ("pitch", "pitch+tempo")  # the default guide, and the dearest (one more acoustic pass)


def timed(repeats: int, fn, *args):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return out, best


def run(args: argparse.Namespace, ctx: Context) -> int:
    import numpy as np
    import torch

    from insideout.emotions import EMOTION_IDS
    from insideout.sentences import load_sentences
    from insideout.tts import tacotron2 as t2
    from insideout.tts.hifigan import Vocoder, VocoderError, shared_vocoder
    from insideout.tts.mel import MEL
    from insideout.tts.quality import dnsmos
    from insideout.tts.refiner import SHIPPED, RefinerError
    from insideout.tts.refiner import load as load_refiner
    from insideout.tts.synthesize import Synthesizer, encode_batch

    if args.preset not in t2.PRESETS:
        raise CommandError(f"--preset {args.preset!r}: choose from {', '.join(sorted(t2.PRESETS))}")
    torch.set_num_threads(args.threads)
    sentences = load_sentences()[:8]
    acoustic = acoustic_model(args)
    try:
        refiner = load_refiner(args.refiner or SHIPPED)
    except RefinerError as e:
        raise CommandError(f"--refiner: {e}") from None
    # Each vocoder beside its torch twin: the first is V1 universal, as synthesis runs it by default.
    vocoders = [(shared_vocoder("universal"), Vocoder("universal", runtime="torch"))]
    for name in args.vocoder or []:
        try:
            vocoders.append((Vocoder(name), Vocoder(name, runtime="torch")))
        except VocoderError as e:
            raise CommandError(str(e)) from None
    print(f"acoustic model: {acoustic.version} ({acoustic.parameter_count() / 1e6:.1f}M parameters), "
          f"{args.threads} threads; vocoders: " + ", ".join(
              f"{v.name} in {v.runtime} ({sum(p.numel() for p in v.generator.parameters()) / 1e6:.1f}M parameters)"
              for v, _ in vocoders))
    rows, spoken = [], {}
    for batch in (1, 8):
        texts = sentences[:batch]
        emotions = [EMOTION_IDS[i % 8] for i in range(batch)]
        _, padded, lengths, emotion_ids = encode_batch(acoustic.frontend, texts, emotions)
        (mels, mel_lengths, _), t_acoustic = timed(args.repeats, acoustic.model.infer, padded, lengths, emotion_ids)
        audio_s = float(mel_lengths.sum()) * MEL.hop_length / MEL.sample_rate
        clips = [mels[row, :, : int(mel_lengths[row])] for row in range(batch)]
        for vocoder, in_torch in vocoders:  # every vocoder on the same mels
            _, t_vocoder = timed(args.repeats, vocoder.many, clips)  # as Synthesizer runs it
            _, t_torch = timed(args.repeats, lambda clips, v=in_torch: [v(m) for m in clips], clips)
            out, t_total = timed(args.repeats, Synthesizer(acoustic, vocoder).synthesize, texts, emotions)
            guided = [timed(args.repeats, Synthesizer(acoustic, vocoder, guide=guide).synthesize, texts, emotions)[1]
                      for guide in GUIDES_TIMED]
            # generation's default: the pitch guide with the mel refiner after it
            guided.append(timed(args.repeats, Synthesizer(acoustic, vocoder, guide="pitch", refiner=refiner).synthesize,
                                texts, emotions)[1])
            rows.append((vocoder.name, batch, audio_s, t_acoustic / audio_s, t_vocoder / audio_s,
                         t_torch / audio_s, t_total / audio_s, *(t / audio_s for t in guided)))
            spoken[vocoder.name] = [s.wave for s in out]  # batch 8's clips stay
    rows.sort(key=lambda row: [v.name for v, _ in vocoders].index(row[0]))  # the table: by vocoder, then batch
    from insideout.corpus.synth import render_clip

    piper_audio, piper_time = 0.0, 0.0
    render_clip(sentences[0], "neutral", "piper-joe", 0)  # load the voice first
    for i, sentence in enumerate(sentences):
        t0 = time.perf_counter()
        wave, _ = render_clip(sentence, "neutral", "piper-joe", i)
        piper_time += time.perf_counter() - t0
        piper_audio += len(wave) / 22050
    print("\n| vocoder | batch | audio s | acoustic RTF | vocoder RTF (as synthesis runs it) | vocoder RTF (torch) | "
          "end-to-end RTF without a guide | " + " | ".join(f"with the {g} guide" for g in GUIDES_TIMED)
          + f" | with the pitch guide and the mel refiner {refiner.version} |")
    print("|---|---|---|---|---|---|---|" + "---|" * (len(GUIDES_TIMED) + 1))
    for name, batch, audio_s, rtf_a, rtf_v, rtf_t, rtf_e, *rtf_g in rows:
        print(f"| {name} | {batch} | {audio_s:.1f} | {rtf_a:.3f} | {rtf_v:.3f} | {rtf_t:.3f} | {rtf_e:.3f} | "
              + " | ".join(f"{r:.3f}" for r in rtf_g) + " |")
    print(f"\nPiper (joe, with the starter library's WORLD processing) end-to-end RTF on the same "
          f"sentences: {piper_time / piper_audio:.3f}")
    print(f"peak memory (RSS): {peak_rss_mb():.0f} MB")
    if len(vocoders) > 1 or args.int8:
        print("\nDNSMOS of the 8 clips synthesized above, per vocoder: " + ", ".join(
            f"{name} {np.mean([m.overall for m in dnsmos(waves, MEL.sample_rate)]):.3f}"
            for name, waves in spoken.items()))
        quality_trial([v for v, _ in vocoders], args.threads, args.int8)
    return 0


def quality_trial(vocoders, threads: int, int8: bool) -> None:
    """Each vocoder's copy-synthesis of 8 teacher clips (their mel through the vocoder): RTF, log-mel L1 of
    the copy to the original mel, DNSMOS. With int8, also V1 quantized to int8 (QDQ, per-channel weights,
    calibrated on 8 other teacher clips)."""
    import tempfile

    import numpy as np
    import torch

    from insideout.corpus.synth import available_voices, render_clip
    from insideout.emotions import EMOTION_IDS
    from insideout.sentences import load_sentences
    from insideout.tts.mel import MEL, log_mel_distance, mel_spectrogram
    from insideout.tts.quality import dnsmos

    voices = available_voices()
    texts = load_sentences()[8:24]
    waves = []
    for i, text in enumerate(texts):
        wave, _ = render_clip(text, EMOTION_IDS[i % len(EMOTION_IDS)], voices[i % len(voices)], i)
        waves.append(wave)  # at MEL.sample_rate, the project's one rate
    mels = [mel_spectrogram(w).numpy() for w in waves]
    calibration, test = mels[:8], mels[8:]
    runs = {v.name: (lambda m, v=v: v(torch.from_numpy(m[0]))[0]) for v in vocoders}
    if int8:
        with tempfile.TemporaryDirectory() as tmp:
            session = _int8_session(vocoders[0], calibration, Path(tmp), threads)
        runs[f"{vocoders[0].name} int8"] = lambda m: np.clip(session.run(None, {"mel": m})[0][0, 0], -1, 1)
    audio_s = sum(m.shape[-1] for m in test) * MEL.hop_length / MEL.sample_rate
    print(f"\nvocoders' copy-synthesis of {len(test)} teacher clips ({audio_s:.1f} s), "
          f"teacher DNSMOS {np.mean([s.overall for s in dnsmos(waves[8:], MEL.sample_rate)]):.3f}")
    print("| vocoder | RTF | log-mel L1 to the original | DNSMOS |\n|---|---|---|---|")
    for name, vocode in runs.items():
        copies, seconds = timed(2, lambda vocode=vocode: [vocode(m) for m in test])
        l1 = np.mean([log_mel_distance(mel_spectrogram(c), torch.from_numpy(m))
                      for c, m in zip(copies, test, strict=True)])
        mos = np.mean([s.overall for s in dnsmos(copies, MEL.sample_rate)])
        print(f"| {name} | {seconds / audio_s:.3f} | {l1:.3f} | {mos:.3f} |")


def _int8_session(vocoder, calibration, tmp, threads: int):
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from insideout.tts.hifigan import _onnx_export, _onnx_session

    crop = min(m.shape[-1] for m in calibration)  # the calibrator stacks its inputs: one length

    class Calibration(CalibrationDataReader):
        def __init__(self):
            self.feeds = iter([{"mel": np.ascontiguousarray(m[..., :crop])} for m in calibration])

        def get_next(self):
            return next(self.feeds, None)

    fp32, prepared, int8 = (tmp / name for name in ("fp32.onnx", "pre.onnx", "int8.onnx"))
    fp32.write_bytes(_onnx_export(vocoder.generator))
    quant_pre_process(str(fp32), str(prepared))
    quantize_static(str(prepared), str(int8), Calibration(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return _onnx_session(int8.read_bytes(), threads)
