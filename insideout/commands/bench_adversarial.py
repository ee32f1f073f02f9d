"""Benchmark adversarial perturbation of served audio (insideout/adversarial.py): does a perturbation computed
against the deployment's surrogate fool the bot lab's attackers, and does an attacker that retrains on
perturbed audio get its accuracy back?

    insideout bench-adversarial [--clips-per-emotion 12] [--snr-db 20] [--steps 20] [--seed 0] [--json OUT]

1. The deployment: fits its surrogate on its trusted clips (the starter library's plan, rendered in memory,
   --trusted-clips-per-emotion per emotion), renders --clips-per-emotion fresh clips per emotion as the
   restocker does (new sentences, random voices and seeds), and perturbs each at --snr-db with --steps steps
   on one thread (the restocker's one core), timing it. Beside each perturbed clip, a control: random noise
   shaped the same way at the same SNR, which tells an adversarial effect from plain noise.
2. Accuracy, with Wilson 95 % intervals, on the clean, perturbed and noisy copies of the same clips:
   - the surrogate itself (white box: what the perturbation was made against);
   - the acoustic attacker (the bot lab's, trained on the public recipe, --acoustic-clips-per-emotion, cached
     at --acoustic-cache): transfer to a classifier trained differently, on other features;
   - an attacker that knows the defence: it renders its own recipe clips (--attacker-clips-per-emotion),
     fits its own surrogate, perturbs its training clips with the same public algorithm and bound, and fits
     the acoustic attacker's classifier on clean + perturbed; beside it the same attacker trained on its
     clean clips only, the baseline its retraining is judged against.
3. The SNR achieved and the CPU seconds per clip, and the cue change: per emotion, the mean absolute change of
   median F0, F0 range, energy and syllable rate (corpus/acoustics.py) from clean to perturbed copies.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.botlab.classifier import Example
    from insideout.cli import Context

CUES = ("median_f0_hz", "f0_range_st", "energy_db", "syllable_rate_hz")


def default_acoustic_cache() -> Path:
    # the bot lab's own cache of the acoustic attacker (botlab/attackers/__init__.py), so neither refits it
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "insideout" / "acoustic-0.pkl"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from insideout.adversarial import DEFAULT_SNR_DB, DEFAULT_STEPS

    parser.add_argument("--clips-per-emotion", type=int, default=12, help="fresh clips per emotion to perturb")
    parser.add_argument("--snr-db", type=float, default=DEFAULT_SNR_DB, help="clip energy over perturbation energy")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="PGD steps per clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the numbers here")
    parser.add_argument("--trusted-clips-per-emotion", type=int, default=30,
                        help="the deployment's trusted clips the surrogate learns from (the starter plan)")
    parser.add_argument("--attacker-clips-per-emotion", type=int, default=16,
                        help="the recipe clips of the attacker that retrains on perturbed audio")
    parser.add_argument("--acoustic-clips-per-emotion", type=int, default=64,
                        help="the recipe of the bot lab's acoustic attacker (64: the one `bots` plays)")
    parser.add_argument("--acoustic-cache", type=Path, default=None,
                        help="where that attacker's classifier is kept (default: the bot lab's acoustic-0.pkl)")
    parser.add_argument("--epochs", type=int, default=40, help="surrogate training epochs")


def run(args: argparse.Namespace, ctx: Context) -> int:
    if min(args.clips_per_emotion, args.trusted_clips_per_emotion, args.attacker_clips_per_emotion,
           args.acoustic_clips_per_emotion, args.steps, args.epochs) < 1:
        raise CommandError("every count, --steps and --epochs must be at least 1")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the restocker renders on one core: time the perturbation there
    try:
        results = measure(args)
    finally:
        torch.set_num_threads(threads)
    report(results)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


def measure(args: argparse.Namespace) -> dict:
    from insideout.adversarial import fit_surrogate, perturb, shaped_noise, snr_db
    from insideout.botlab.attackers.acoustic import Recipe, trained_classifier
    from insideout.botlab.classifier import rendered_starter_examples

    seeds = np.random.SeedSequence(args.seed).generate_state(4)
    out: dict = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                              if k not in {"command"}}}

    print(f"deployment: rendering {8 * args.trusted_clips_per_emotion} trusted clips (the starter plan) ...",
          flush=True)
    trusted = rendered_starter_examples(args.trusted_clips_per_emotion, seed=0)
    started = time.process_time()
    surrogate = fit_surrogate(trusted, epochs=args.epochs, seed=int(seeds[0]))
    out["surrogate"] = {**surrogate.meta, "fit_cpu_s": time.process_time() - started,
                        "weights": sum(p.numel() for p in surrogate.parameters())}

    print(f"deployment: rendering {8 * args.clips_per_emotion} fresh clips and perturbing them ...", flush=True)
    test = fresh_clips(args.clips_per_emotion, random.Random(int(seeds[1])))
    rng = np.random.default_rng(int(seeds[2]))
    perturbed, cpu_s, wall_s = [], [], []
    for ex in test:
        cpu, wall = time.process_time(), time.perf_counter()
        perturbed.append(perturb(ex.wave, ex.sample_rate, ex.emotion, surrogate, args.snr_db, args.steps, rng))
        cpu_s.append(time.process_time() - cpu)
        wall_s.append(time.perf_counter() - wall)
    snrs = [snr_db(ex.wave, p) for ex, p in zip(test, perturbed, strict=True)]
    # the control: shaped noise at each clip's achieved SNR, so only the direction differs
    noisy = [shaped_noise(ex.wave, ex.sample_rate, s, rng) for ex, s in zip(test, snrs, strict=True)]
    seconds = [ex.wave.size / ex.sample_rate for ex in test]
    out["perturbation"] = {
        "clips": len(test), "snr_db_target": args.snr_db, "steps": args.steps,
        "snr_db": _summary(snrs), "noise_snr_db": _summary([snr_db(ex.wave, n) for ex, n in zip(test, noisy,
                                                                                                  strict=True)]),
        "cpu_s_per_clip": _summary(cpu_s), "wall_s_per_clip": _summary(wall_s), "clip_s": _summary(seconds),
        "cpu_s_per_audio_s": float(np.sum(cpu_s) / np.sum(seconds))}

    labels = [ex.emotion for ex in test]
    copies = {"clean": [ex.wave for ex in test], "perturbed": perturbed, "noise": noisy}
    rows: dict[str, dict] = {}
    rows["surrogate (white box)"] = {k: _scored(surrogate.predict(w), labels) for k, w in copies.items()}

    print("acoustic attacker: its recipe classifier (cached, or rendered and fitted now) ...", flush=True)
    acoustic = trained_classifier(Recipe(args.acoustic_clips_per_emotion, 0),
                                  args.acoustic_cache or default_acoustic_cache())
    feats = {k: np.stack([acoustic.features(w, ex.sample_rate) for w, ex in zip(ws, test, strict=True)])
             for k, ws in copies.items()}
    rows[f"acoustic attacker (recipe {args.acoustic_clips_per_emotion}/emotion)"] = {
        k: _scored(acoustic.pipeline.predict(x), labels) for k, x in feats.items()}

    print(f"retraining attacker: rendering {8 * args.attacker_clips_per_emotion} recipe clips, its own surrogate, "
          "perturbing them ...", flush=True)
    baseline, retrained, attacker_info = retraining_attacker(args, int(seeds[3]))
    n = args.attacker_clips_per_emotion
    rows[f"recipe {n}/emotion, clean training only"] = {
        k: _scored(baseline.predict(x), labels) for k, x in feats.items()}
    rows[f"recipe {n}/emotion, retrained on clean + perturbed"] = {
        k: _scored(retrained.predict(x), labels) for k, x in feats.items()}
    out["retraining_attacker"] = attacker_info
    out["accuracy"] = rows

    print("cues: measuring F0, range, energy and rate of clean and perturbed copies ...", flush=True)
    out["cue_change"] = cue_change(test, perturbed)
    return out


def fresh_clips(per_emotion: int, rng: random.Random) -> list[Example]:
    """Clips as the restocker renders them: new generator sentences, a random voice and render seed each."""
    from insideout.botlab.classifier import Example
    from insideout.corpus.synth import available_voices, render_clip
    from insideout.emotions import EMOTION_IDS
    from insideout.restock import Sentences
    from insideout.wav import SAMPLE_RATE

    sentences, voices = Sentences(rng), available_voices()  # any random.Random will do
    out = []
    for _ in range(per_emotion):
        for emotion in EMOTION_IDS:
            sentence = sentences.next()
            wave, provenance = render_clip(sentence, emotion, rng.choice(voices), rng.randrange(2**31))
            out.append(Example(wave, int(provenance.get("sample_rate", SAMPLE_RATE)), emotion, sentence))
    return out


def retraining_attacker(args: argparse.Namespace, seed: int):
    """The attacker that knows the defence: two fitted pipelines (clean only, clean + perturbed) on the
    acoustic attacker's features, and what it cost."""
    from insideout.adversarial import fit_surrogate, perturb
    from insideout.botlab.attackers.acoustic import FEATURE_SET, Recipe, render_examples
    from insideout.botlab.classifier import pipeline
    from insideout.botlab.features import features

    examples = render_examples(Recipe(args.attacker_clips_per_emotion, seed=1 + args.seed))
    started = time.process_time()
    own = fit_surrogate(examples, epochs=args.epochs, seed=seed)  # its own: the deployment's weights are secret
    rng = np.random.default_rng(seed)
    perturbed = [perturb(ex.wave, ex.sample_rate, ex.emotion, own, args.snr_db, args.steps, rng) for ex in examples]
    x_clean = np.stack([features(ex.wave, ex.sample_rate, FEATURE_SET) for ex in examples])
    x_pert = np.stack([features(w, ex.sample_rate, FEATURE_SET) for w, ex in zip(perturbed, examples, strict=True)])
    y = np.array([ex.emotion for ex in examples])
    baseline = pipeline().fit(x_clean, y)
    retrained = pipeline().fit(np.concatenate([x_clean, x_pert]), np.concatenate([y, y]))
    info = {"clips": len(examples), "surrogate_train_accuracy": own.meta["train_accuracy"],
            "cpu_s": time.process_time() - started}
    return baseline, retrained, info


def cue_change(clean: Sequence[Example], perturbed: Sequence[np.ndarray]) -> dict[str, dict[str, float]]:
    """Per emotion (and over all), the mean absolute change of each cue from the clean to the perturbed copy;
    clips whose F0 is not measurable in either copy are left out of the F0 cues."""
    from insideout.corpus.acoustics import measure
    from insideout.emotions import EMOTION_IDS

    changes: dict[str, dict[str, list[float]]] = {e: {c: [] for c in CUES} for e in [*EMOTION_IDS, "all"]}
    for ex, wave in zip(clean, perturbed, strict=True):
        before, after = measure(ex.wave, ex.sample_rate).as_dict(), measure(wave, ex.sample_rate).as_dict()
        for cue in CUES:
            change = abs(after[cue] - before[cue])
            if np.isfinite(change):
                changes[ex.emotion][cue].append(change)
                changes["all"][cue].append(change)
    return {e: {c: (float(np.mean(v)) if v else float("nan")) for c, v in cues.items()}
            for e, cues in changes.items() if any(cues.values())}


def _scored(predicted: Sequence[str], labels: Sequence[str]) -> dict:
    from insideout.botlab.evaluation import wilson

    right = int(sum(str(p) == y for p, y in zip(predicted, labels, strict=True)))
    low, high = wilson(right, len(labels))
    return {"right": right, "n": len(labels), "accuracy": right / len(labels), "low": low, "high": high}


def _summary(values: Sequence[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max())}


def report(results: dict) -> None:
    s, p = results["surrogate"], results["perturbation"]
    print(f"\nsurrogate: {s['weights']} weights, fitted on {s['trained_on']} trusted clips in {s['fit_cpu_s']:.1f} "
          f"CPU s (one thread), training accuracy {100 * s['train_accuracy']:.1f} %")
    print(f"perturbation: {p['clips']} fresh clips ({p['clip_s']['mean']:.2f} s on average), "
          f"target {p['snr_db_target']:g} dB SNR, {p['steps']} steps")
    print(f"  SNR achieved: mean {p['snr_db']['mean']:.2f} dB, min {p['snr_db']['min']:.2f}, "
          f"max {p['snr_db']['max']:.2f} (noise control: mean {p['noise_snr_db']['mean']:.2f})")
    print(f"  CPU per clip (one thread): mean {p['cpu_s_per_clip']['mean']:.3f} s, max {p['cpu_s_per_clip']['max']:.3f}"
          f" s; {p['cpu_s_per_audio_s']:.3f} CPU s per second of audio; wall mean {p['wall_s_per_clip']['mean']:.3f} s")
    a = results["retraining_attacker"]
    print(f"retraining attacker: {a['clips']} recipe clips, its surrogate's training accuracy "
          f"{100 * a['surrogate_train_accuracy']:.1f} %, {a['cpu_s']:.1f} CPU s to fit, perturb and refit")
    print("\naccuracy on the same fresh clips, Wilson 95 % (chance 12.5 %):")
    print(f"  {'classifier':<52} {'clean':<24} {'perturbed':<24} {'shaped noise, same SNR':<24}")
    for name, row in results["accuracy"].items():
        cells = [f"{r['right']}/{r['n']} {100 * r['accuracy']:.1f} % [{100 * r['low']:.0f}, {100 * r['high']:.0f}]"
                 for r in (row["clean"], row["perturbed"], row["noise"])]
        print(f"  {name:<52} " + " ".join(f"{c:<24}" for c in cells))
    print("\ncue change, clean -> perturbed copy of the same clip (mean absolute change):")
    print(f"  {'emotion':<10} {'median F0 Hz':>13} {'F0 range st':>12} {'energy dB':>10} {'syllables/s':>12}")
    for emotion, cues in results["cue_change"].items():
        print(f"  {emotion:<10} {cues['median_f0_hz']:>13.2f} {cues['f0_range_st']:>12.2f} {cues['energy_db']:>10.2f}"
              f" {cues['syllable_rate_hz']:>12.2f}")
