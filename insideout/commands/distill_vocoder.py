"""Distil the lighter vocoder (insideout/tts/lite_vocoder.py) from HiFi-GAN V1, on the CPU, resumably.

    insideout distill-vocoder --corpus runs/teacher --run-dir runs/vocoder-lite --steps 4000 [--lr 2e-4]
        [--final-lr 1e-5] [--clips 240] [--acoustic models/tacotron2-emotion.pt --generated 120]
        [--init-from EARLIER/generator.pt] [--out models/hifigan-lite/generator.pt]

The mels it learns from: --clips clips of the teacher corpus (spread over its manifest) and, with --acoustic,
--generated mels the acoustic model speaks for other sentences of the corpus, since synthesis feeds the
vocoder those; V1's waveform for each is the target. They are computed once into RUN_DIR/pairs.pt.

Ctrl-C (or the end) saves RUN_DIR/last.pt; the same command resumes (--steps may change: the learning
rate's cosine decay then stretches to the new end). --init-from starts a new run from an earlier run's
student. At the end the student is written to --out (fp16, config.json beside it), its loss curve to
RUN_DIR/loss.png, and it is compared with V1 on 8 corpus clips it never saw: copy-synthesis log-mel L1 to
the original (RUN_DIR/report.json). `insideout bench-tts --vocoder PATH` measures its speed and quality
beside V1's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import STOPPED, CommandError

if TYPE_CHECKING:
    from insideout.cli import Context

HELD_OUT = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, required=True, help="a teacher corpus (manifest.jsonl + wav/)")
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=240, help="corpus clips to learn from")
    parser.add_argument("--acoustic", help="an acoustic model checkpoint whose mels to learn from too")
    parser.add_argument("--generated", type=int, default=120, help="mels the acoustic model speaks (with --acoustic)")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-4, help="the first learning rate")
    parser.add_argument("--final-lr", type=float, default=1e-5, help="where its cosine decay ends, at --steps")
    parser.add_argument("--init-from", type=Path, help="start from an earlier run's student (its --out file), not V1")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("models/hifigan-lite/generator.pt"))


def _spread(n: int, total: int) -> list[int]:
    """n indices spread evenly over range(total) (voices and emotions rotate through the manifest)."""
    n = min(n, total)
    return [i * total // n for i in range(n)] if n else []


def corpus_mels(corpus: Path, args: argparse.Namespace):
    """(training mels, held-out mels): the corpus's clips and, with --acoustic, generated ones."""
    import torch

    from insideout.tts.mel import mel_spectrogram
    from insideout.tts.train import TrainError, items_from_folder

    try:
        items = items_from_folder(corpus)
    except TrainError as e:
        raise CommandError(str(e)) from None
    if len(items) < HELD_OUT + 1:
        raise CommandError(f"{corpus}: {len(items)} clips; the distillation wants more than {HELD_OUT}")
    held_out, items = items[-HELD_OUT:], items[:-HELD_OUT]
    chosen = _spread(args.clips, len(items))
    mels = [mel_spectrogram(items[i].load_wave())[0] for i in chosen]
    if args.acoustic:
        from insideout.tts.synthesize import encode_batch
        from insideout.tts.tacotron2 import load

        acoustic = load(args.acoustic)
        taken = set(chosen)
        rest = [item for i, item in enumerate(items) if i not in taken]
        spoken = [rest[i] for i in _spread(args.generated, len(rest))]
        for first in range(0, len(spoken), 8):
            batch = spoken[first:first + 8]
            _, tokens, lengths, emotions = encode_batch(acoustic.frontend, [b.text for b in batch],
                                                        [b.emotion for b in batch])
            with torch.inference_mode():
                out, out_lengths, _ = acoustic.model.infer(tokens, lengths, emotions)
            mels += [out[row, :, : int(out_lengths[row])].clone() for row in range(len(batch))]
            print(f"  generated mels: {min(first + 8, len(spoken))}/{len(spoken)}", flush=True)
    return mels, [mel_spectrogram(item.load_wave())[0] for item in held_out]


def run(args: argparse.Namespace, ctx: Context) -> int:
    import torch

    from insideout.tts import lite_vocoder as lv
    from insideout.tts.hifigan import Vocoder, shared_vocoder

    torch.set_num_threads(args.threads)
    config = lv.DistillConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                              final_learning_rate=args.final_lr, checkpoint_every=args.checkpoint_every,
                              seed=args.seed)
    try:
        init = lv.load_student_state(args.init_from) if args.init_from else None
    except lv.DistillError as e:
        raise CommandError(str(e)) from None
    args.run_dir.mkdir(parents=True, exist_ok=True)
    cached = args.run_dir / "pairs.pt"
    if cached.is_file():
        saved = torch.load(cached, weights_only=False)
        pairs, held_out = [lv.Pair(m, w) for m, w in saved["pairs"]], saved["held_out"]
        print(f"{len(pairs)} mels and V1's waves for them, from {cached}")
    else:
        mels, held_out = corpus_mels(args.corpus, args)
        started = time.perf_counter()
        pairs = lv.teacher_pairs(mels, on_progress=lambda i, n: print(f"  V1's waves: {i}/{n}", flush=True)
                                 if i % 20 == 0 or i == n else None)
        torch.save({"pairs": [(p.mel, p.wave) for p in pairs], "held_out": held_out}, cached)
        print(f"{len(pairs)} mels and V1's waves for them in {time.perf_counter() - started:.0f} s")
    times: list[float] = []

    def on_step(step: int, losses: dict[str, float], seconds: float) -> None:
        times.append(seconds)
        if step % 20 == 0 or step == config.steps:
            recent = sorted(times[-50:])[len(times[-50:]) // 2]
            print(f"step {step}/{config.steps}  loss {losses['total']:.3f}  mel L1 {losses['mel_l1']:.4f}  "
                  f"stft {losses['stft']:.4f}  wave L1 {losses['wave_l1']:.5f}  {seconds:.2f} s/step  "
                  f"ETA {recent * (config.steps - step) / 60:.0f} min", flush=True)

    try:
        student = lv.distill(pairs, args.run_dir, config, on_step=on_step, init=init)
    except KeyboardInterrupt:
        print(f"stopped; {args.run_dir / 'last.pt'} keeps the run: the same command resumes it")
        return STOPPED
    except lv.DistillError as e:
        raise CommandError(str(e)) from None
    path = lv.export(student, args.out)
    teacher, lite = shared_vocoder("universal"), Vocoder(path)
    report = {"steps": config.steps, "clips": len(pairs), "held_out_clips": len(held_out)}
    for name, vocoder in (("v1", teacher), ("lite", lite)):
        report[f"{name}_log_mel_l1"] = lv.copy_synthesis_distance(vocoder, held_out)
    (args.run_dir / "report.json").write_text(json.dumps(report, indent=2))
    plot_losses(json.loads((args.run_dir / "history.json").read_text()), args.run_dir / "loss.png")
    print(f"wrote {path} and {args.run_dir / 'loss.png'}; copy-synthesis of {len(held_out)} corpus clips it never "
          f"saw, log-mel L1 to the original: V1 {report['v1_log_mel_l1']:.3f}, lite {report['lite_log_mel_l1']:.3f}")
    return 0


def plot_losses(history: list[dict], out: Path, window: int = 50, boundaries: tuple[int, ...] = ()) -> None:
    """The run's loss and its mel L1 to V1's waves, each step's and a running mean of `window` steps;
    boundaries: steps where one run ended and the next (--init-from) began, drawn as dashed lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    import numpy as np

    steps = [h["step"] for h in history]
    fig, axes = plt.subplots(1, 2, figsize=(8, 3), dpi=110)
    for ax, key, label in ((axes[0], "total", "distillation loss"), (axes[1], "mel_l1", "log-mel L1 to V1's wave")):
        values = np.array([h[key] for h in history])
        ax.plot(steps, values, alpha=0.25, linewidth=0.6)
        if len(values) >= window:
            ax.plot(steps[window - 1:], np.convolve(values, np.ones(window) / window, mode="valid"),
                    label=f"mean of {window} steps")
            ax.legend(fontsize=8)
        ax.set_yscale("log")  # the first steps fall tenfold; the tail is what matters
        ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.yaxis.set_minor_formatter(matplotlib.ticker.ScalarFormatter())
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.set_xlabel("step (8 segments of 8192 samples)")
        ax.set_title(label, fontsize=10)
        ax.grid(True, alpha=0.3)
    for boundary in boundaries:
        for ax in axes:
            ax.axvline(boundary, color="grey", linestyle="--", linewidth=0.8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
