"""Train the mel refiner (insideout/tts/refiner.py) on a teacher corpus, on the CPU, resumably.

    insideout train-refiner --corpus runs/teacher --run-dir runs/refiner [--checkpoint models/tacotron2-emotion.pt]
        [--clips N] [--pairs forced|free|both] [--strength 1.25] [--init-from REFINER] [--steps 8000]
        [--batch-size 16] [--lr 2e-4] [--critic-lr 1e-4] [--l1-weight 5] [--emotion-weight 0 [--probe-steps 3000]]
        [--threads 2] [--out models/mel-refiner.pt]

Its pairs, for each corpus clip (the first --clips, or all): `forced`, the acoustic model's teacher-forced mel of
it, sharpened by the postfilter and imprinted with the pitch guide's comb at the clip's own F0, beside the clip's
own mel (about 0.15 s a clip on 2 cores; kept in RUN_DIR/pairs.pt); `free`, the model's own free-running mel of
the sentence at --strength, as generation speaks, beside the clip's mel aligned to it by DTW (about 0.05 s a
clip; kept in RUN_DIR/free-pairs.pt); `both`, the two together (the shipped refiner learned from `forced`, the
default; a fine-tune on `both` was clearer and carried less emotion: models/mel-refiner.md). --init-from starts a
new run from a refiner file's weights (a fine-tune). Ctrl-C (or the end) keeps the run in RUN_DIR/last.pt; the same
command resumes it (--steps may change: the learning rates' cosine decay then stretches to the new end). At the
end the refiner is written to --out (fp16, what trained it recorded inside) and its losses to
RUN_DIR/loss.png. --emotion-weight W (default 0) first trains an emotion probe on the teacher's mels (--probe-steps
batches) and adds W x its cross-entropy on refined mels to the refiner's loss (the shipped refiner is a fine-tune
at 0.3: models/mel-refiner.md). `insideout eval --refiner PATH` measures what it does to generated speech.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import STOPPED, CommandError

if TYPE_CHECKING:
    from insideout.cli import Context

PAIRS = ("forced", "free", "both")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--corpus", type=Path, required=True, help="a teacher corpus (manifest.jsonl + wav/)")
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--checkpoint", help="the acoustic model whose mels it learns to refine (default: the shipped "
                                             "models/tacotron2-emotion.pt)")
    parser.add_argument("--clips", type=int, help="corpus clips to learn from (default: all)")
    parser.add_argument("--pairs", choices=PAIRS, default="forced",
                        help="teacher-forced pairs (the default: the shipped refiner's), free-running pairs aligned "
                             "by DTW, or both")
    parser.add_argument("--strength", type=float, help="the emotion strength free-running pairs are spoken at "
                                                       "(default: INSIDEOUT_EMOTION_STRENGTH's)")
    parser.add_argument("--init-from", type=Path, help="a refiner file a new run starts from (a fine-tune)")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-4, help="the refiner's first learning rate")
    parser.add_argument("--critic-lr", type=float, default=1e-4, help="the critic's first learning rate")
    parser.add_argument("--l1-weight", type=float, default=5.0, help="the L1 pull to the teacher's mel")
    parser.add_argument("--emotion-weight", type=float, default=0.0,
                        help="the pull towards the emotion a probe trained on the teacher's mels hears in refined "
                             "ones (default 0: no probe; the shipped refiner's fine-tune used 0.3)")
    parser.add_argument("--probe-steps", type=int, default=3000,
                        help="the emotion probe's training batches, before the refiner's (with --emotion-weight)")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("models/mel-refiner.pt"))


def pairs_for(args: argparse.Namespace, checkpoint: str, strength: float) -> tuple[list, dict]:
    """The run's training pairs (--pairs) and what made them: each kind from its file in RUN_DIR when it was made
    from the same corpus, checkpoint, postfilter (and strength), else computed and kept there."""
    import torch

    from insideout.tts import refiner as rf
    from insideout.tts.guide import REVISION
    from insideout.tts.postfilter import BETA
    from insideout.tts.tacotron2 import CheckpointError, load
    from insideout.tts.train import TrainError, items_from_folder

    try:
        acoustic = load(checkpoint)
    except (CheckpointError, OSError) as e:
        raise CommandError(f"--checkpoint {checkpoint}: {e}") from None
    # the guide's revision too: its comb is drawn into every input
    made_from = {"corpus": str(args.corpus), "checkpoint": acoustic.version, "postfilter": BETA, "clips": args.clips,
                 "guide_revision": REVISION}
    items: list = []

    def corpus_items() -> list:
        if not items:
            try:
                found = items_from_folder(args.corpus)
            except TrainError as e:
                raise CommandError(str(e)) from None
            items.extend(found[: args.clips] if args.clips else found)
            if not items:
                raise CommandError(f"{args.corpus}: no clips to learn from")
        return items

    def kept(name: str, key: dict, make) -> list:
        cached = args.run_dir / name
        if cached.is_file():
            saved = torch.load(cached, weights_only=False)
            if saved["made_from"] == key:
                print(f"{len(saved['pairs'])} pairs from {cached}", flush=True)
                return [rf.Pair(*p) for p in saved["pairs"]]
            print(f"{cached} was made from {saved['made_from']}: making the pairs again", flush=True)
        started = time.perf_counter()

        def progress(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                left = (time.perf_counter() - started) / done * (total - done)
                print(f"  {name[:-3]}: {done}/{total}  ETA {left / 60:.0f} min", flush=True)

        # Tacotron2's prenet keeps its dropout on, teacher-forced too: a seed makes the pairs the same each time
        torch.manual_seed(args.seed)
        pairs = make(corpus_items(), progress)
        torch.save({"made_from": key, "pairs": [(p.source, p.target, p.emotion) for p in pairs]}, cached)
        print(f"{len(pairs)} pairs of {len(corpus_items())} clips in {time.perf_counter() - started:.0f} s", flush=True)
        return pairs

    pairs: list = []
    if args.pairs in ("forced", "both"):
        pairs += kept("pairs.pt", made_from, lambda found, progress: rf.training_pairs(
            acoustic, found, args.run_dir / "mels", BETA, on_progress=progress))
    if args.pairs in ("free", "both"):
        pairs += kept("free-pairs.pt", {**made_from, "strength": strength}, lambda found, progress: (
            rf.free_running_pairs(acoustic, found, BETA, strength, on_progress=progress)))
    return pairs, {**made_from, "pairs_kind": args.pairs, **({"strength": strength} if args.pairs != "forced" else {})}


def run(args: argparse.Namespace, ctx: Context) -> int:
    import torch

    from insideout.generation import SHIPPED_CHECKPOINT
    from insideout.settings import settings_from_env
    from insideout.tts import refiner as rf

    if args.steps < 1 or args.batch_size < 1 or args.probe_steps < 1 or (args.clips is not None and args.clips < 1):
        raise CommandError("--steps, --batch-size, --probe-steps and --clips must be at least 1")
    if not args.emotion_weight >= 0:  # NaN too
        raise CommandError("--emotion-weight must be 0 or more")
    torch.set_num_threads(args.threads)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = args.checkpoint or str(SHIPPED_CHECKPOINT)
    strength = settings_from_env().emotion_strength if args.strength is None else args.strength
    if not 0 <= strength <= 3:
        raise CommandError("--strength must be from 0 to 3")
    init = None
    if args.init_from is not None:
        try:
            init = rf.load(args.init_from)
        except rf.RefinerError as e:
            raise CommandError(f"--init-from: {e}") from None
    pairs, made_from = pairs_for(args, checkpoint, strength)
    if init is not None:
        made_from["init_from"] = init.version
    config = rf.RefinerConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                              critic_learning_rate=args.critic_lr, l1_weight=args.l1_weight,
                              emotion_weight=args.emotion_weight, probe_steps=args.probe_steps,
                              checkpoint_every=args.checkpoint_every, seed=args.seed)
    times: list[float] = []
    recent: list[dict] = []

    def on_step(step: int, losses: dict[str, float], seconds: float) -> None:
        times.append(seconds)
        recent.append(losses)
        if step % 50 == 0 or step == config.steps:
            mean = {k: sum(r[k] for r in recent) / len(recent) for k in losses}
            recent.clear()
            per_step = sorted(times[-50:])[len(times[-50:]) // 2]
            named = (f"  emotion named {mean['named']:.0%} (cross-entropy {mean['emotion']:.3f}, the teacher's "
                     f"{mean['teacher_emotion']:.3f})" if "named" in mean else "")
            print(f"step {step}/{config.steps}  L1 {mean['l1']:.3f} (input {mean['input_l1']:.3f})  critic "
                  f"{mean['critic']:.3f}  adversarial {mean['adversarial']:.3f}  matching {mean['matching']:.3f}"
                  f"{named}  {per_step:.2f} s/step  ETA {per_step * (config.steps - step) / 60:.0f} min", flush=True)

    try:
        net = rf.train(pairs, args.run_dir, config, on_step=on_step, init=init)
    except KeyboardInterrupt:
        print(f"stopped; {args.run_dir / 'last.pt'} keeps the run: the same command resumes it")
        return STOPPED
    except rf.RefinerError as e:
        raise CommandError(str(e)) from None
    history = json.loads((args.run_dir / "history.json").read_text())
    tail = history[-200:]
    trained = {**made_from, "pairs": len(pairs), "config": asdict(config),
               "final_l1": round(sum(h["l1"] for h in tail) / len(tail), 4),
               "final_input_l1": round(sum(h["input_l1"] for h in tail) / len(tail), 4)}
    probe = args.run_dir / "probe.json"
    if config.emotion_weight > 0 and probe.is_file():
        trained["probe_accuracy"] = json.loads(probe.read_text())["held_out_accuracy"]
        print(f"the emotion probe names {trained['probe_accuracy']:.0%} of the teacher's crops it did not learn from")
    version = rf.export(net, args.out, trained)
    plot_losses(history, args.run_dir / "loss.png")
    print(f"wrote {args.out} (version {version}) and {args.run_dir / 'loss.png'}; L1 to the teacher's mels over the "
          f"last {len(tail)} steps {trained['final_l1']} (its input's {trained['final_input_l1']})")
    return 0


def plot_losses(history: list[dict], out: Path, window: int = 100) -> None:
    """The refiner's L1 to the teacher's mels beside its input's, and the critic's and adversarial losses, each
    as a running mean of `window` steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = np.array([h["step"] for h in history])
    window = max(1, min(window, len(history)))

    def mean(key: str) -> np.ndarray:
        return np.convolve([h[key] for h in history], np.ones(window) / window, mode="valid")

    classified = "emotion" in history[0]
    fig, axes = plt.subplots(1, 3 if classified else 2, figsize=(12 if classified else 8, 3), dpi=110)
    at = steps[window - 1:]
    axes[0].plot(at, mean("input_l1"), label="its input (model + guide)")
    axes[0].plot(at, mean("l1"), label="refined")
    axes[0].set_title("log-mel L1 to the teacher's mel", fontsize=10)
    axes[1].plot(at, mean("critic"), label="critic")
    axes[1].plot(at, mean("adversarial"), label="refiner (adversarial)")
    axes[1].set_title("least-squares GAN losses", fontsize=10)
    if classified:
        axes[2].plot(at, mean("teacher_emotion"), label="teacher's mels")
        axes[2].plot(at, mean("emotion"), label="refined")
        axes[2].set_title("the emotion probe's cross-entropy", fontsize=10)
    for ax in axes:
        ax.set_xlabel(f"step ({window}-step mean)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
