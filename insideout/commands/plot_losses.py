"""Plot the training loss of a model's runs, end to end, from the histories their checkpoints keep.

    insideout plot-losses FIRST.pt SECOND.pt ... --out models/tacotron2-emotion-loss.png

Give the runs in order (a run continued with --init-from after another): each curve starts where the
previous run's steps ended. Used for the model card.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--out", type=Path, required=True)


def history(checkpoint: str) -> tuple[str, int, list[tuple[int, float]], float]:
    from insideout.tts import tacotron2 as t2

    loaded = t2.load(checkpoint)
    provenance = loaded.provenance or {}
    losses = provenance.get("losses") or []
    if isinstance(losses, str):  # older checkpoints keep it as the list's repr
        losses = ast.literal_eval(losses)
    points = [(int(step), float(loss)) for step, loss in losses]
    return loaded.version, int(provenance.get("steps") or 0), points, float(provenance.get("seconds") or 0)


def run(args: argparse.Namespace, ctx: Context) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=110)
    offset, total_seconds = 0, 0.0
    for checkpoint in args.checkpoints:
        version, steps, losses, seconds = history(checkpoint)
        if losses:
            ax.plot([offset + s for s, _ in losses], [v for _, v in losses],
                    label=f"{version}: steps {offset + 1}-{offset + steps}")
        offset += steps
        total_seconds += seconds
    ax.set_yscale("log")
    ax.set_xlabel("step (batch 16)")
    ax.set_ylabel("training loss (mean of 50 steps)")
    ax.set_title(f"{offset} steps, {total_seconds / 3600:.1f} h on the CPU")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"{args.out}: {offset} steps")
    return 0
