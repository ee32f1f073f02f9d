"""Train the emotional Tacotron2 from the command line: long runs, on a GPU when one is there, resumable.

Data: a teacher corpus folder (--corpus, made with --render-teacher or insideout.corpus.teacher), or a pool
of the library in INSIDEOUT_DATA_DIR (--pool play|learning, --source starter). Run it again with the same
--run-dir and settings to continue from the last checkpoint (Ctrl-C checkpoints, then stops with exit 3);
raise --steps to train further.

    insideout train --render-teacher data/teacher --sentences 4000 --emotions-per-sentence 2
    insideout train --corpus data/teacher --run-dir runs/default --steps 20000
    insideout train --pool play --source starter --run-dir runs/starter --steps 2000

Speakers (--speakers): by default the starter voices that speak the data join the model's speaker table
(a fine-tune keeps its checkpoint's and adds these); `none` adds none; or name them. Items of other
voices train as the unknown speaker.
"""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import STOPPED, CommandError

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    data.add_argument("--corpus", type=Path, help="a teacher corpus folder (manifest.jsonl)")
    data.add_argument("--pool", choices=("play", "learning"), help="a pool of the library in INSIDEOUT_DATA_DIR")
    data.add_argument("--source", help="only clips of this source (e.g. starter)")
    data.add_argument("--render-teacher", type=Path, metavar="FOLDER",
                      help="render a teacher corpus into FOLDER (resumable) instead of training")
    data.add_argument("--sentences", type=int, default=4000)
    data.add_argument("--emotions-per-sentence", type=int, default=1)
    data.add_argument("--voices", nargs="*", help="voice ids (default: every voice that loads here)")
    run = parser.add_argument_group("training")
    run.add_argument("--run-dir", type=Path, default=Path("runs/tacotron2"))
    run.add_argument("--mel-cache", type=Path, help="default: RUN_DIR/mels")
    run.add_argument("--preset", default="small")
    run.add_argument("--init-from", default="", help="a checkpoint to fine-tune")
    run.add_argument("--steps", type=int, default=20_000)
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--lr", type=float, default=1e-3)
    run.add_argument("--lr-half-life", type=int, default=20_000)
    run.add_argument("--guided-attention-weight", type=float, default=5.0)
    run.add_argument("--checkpoint-every", type=int, default=500)
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    run.add_argument("--speakers", nargs="+", default=["auto"], metavar="VOICE",
                     help="voices to add to the speaker table: auto (the starter voices in the data), none, "
                          "or voice ids")
    run.add_argument("--out", type=Path, help="also copy the finished model here (e.g. models/tacotron2-emotion.pt)")


def render_teacher(args: argparse.Namespace) -> int:
    from insideout.corpus import teacher
    from insideout.corpus.synth import available_voices

    sentences = teacher.teacher_sentences(args.sentences, args.seed)
    _, missing = teacher.phoneme_coverage(sentences)
    if missing:
        print(f"warning: phonemes never used: {' '.join(sorted(missing))}")
    voices = tuple(args.voices) if args.voices else available_voices()
    clips = teacher.plan_corpus(sentences, voices, args.emotions_per_sentence, args.seed)
    started = time.monotonic()

    def progress(done: int, total: int) -> None:
        if done % 50 == 0 or done == total:
            rate = done / max(1e-9, time.monotonic() - started)
            print(f"{done} / {total} clips, {rate:.2f} clips/s", flush=True)

    report = teacher.render_corpus(args.render_teacher, clips, progress=progress)
    print(f"made {report.made}, already there {report.skipped}, failed {report.failed}, "
          f"{report.seconds / 60:.1f} min -> {args.render_teacher}/manifest.jsonl")
    return 0 if not report.failed else 1


def training_speakers(asked: list[str], voices: list[str]) -> tuple[str, ...]:
    """--speakers as a table: auto takes the starter voices the data speaks, in the starter's order."""
    from insideout.corpus.synth import VOICES

    if asked == ["auto"]:
        return tuple(v for v in VOICES if v in set(voices))
    if asked == ["none"]:
        return ()
    if "auto" in asked or "none" in asked:
        raise CommandError("--speakers takes auto, none, or voice ids: not a mix")
    return tuple(dict.fromkeys(asked))


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.render_teacher:
        return render_teacher(args)
    if not (args.corpus or args.pool):
        raise CommandError("give --corpus, --pool or --render-teacher")
    from insideout.tts.train import TrainConfig, TrainProgress, items_from_folder, items_from_pool, train

    if args.corpus:
        items = items_from_folder(args.corpus)
        description = {"corpus": str(args.corpus)}
    else:
        items = items_from_pool(ctx.services().library, args.pool, args.source)
        description = {"pool": args.pool, "source": args.source}
    description["items"] = len(items)
    speakers = training_speakers(args.speakers, [item.speaker for item in items])
    config = TrainConfig(speakers=speakers,
                         preset=args.preset, init_from=args.init_from, batch_size=args.batch_size, lr=args.lr,
                         lr_half_life_steps=args.lr_half_life, guided_attention_weight=args.guided_attention_weight,
                         steps=args.steps, checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device)
    print(f"{len(items)} items -> {args.run_dir} ({config.preset}, batch {config.batch_size}, {config.steps} steps, "
          f"speakers: {', '.join(speakers) or 'none added'})")
    last = [0.0]

    def progress(p: TrainProgress) -> None:
        if time.monotonic() - last[0] > 10 or p.step == p.steps:
            last[0] = time.monotonic()
            print(f"step {p.step} / {p.steps}  loss {p.loss:.4f}  {p.seconds / 60:.1f} min  "
                  f"ETA {p.eta_s / 60:.1f} min", flush=True)

    # Ctrl-C asks to stop; the loop stops between steps, after writing a checkpoint.
    stop_asked = []
    previous = signal.signal(signal.SIGINT, lambda *_: stop_asked.append(1))

    def check_stop() -> None:
        if stop_asked:
            raise KeyboardInterrupt

    try:
        result = train(items, config, args.run_dir, args.mel_cache, progress=progress, check_cancel=check_stop,
                       description=description)
    except KeyboardInterrupt:
        print(f"stopped; checkpoint in {args.run_dir}: run the same command to continue")
        return STOPPED
    finally:
        signal.signal(signal.SIGINT, previous)
    print(f"model {result.version} after {result.steps} steps -> {result.model_path}")
    if args.out:
        import shutil

        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.model_path, args.out)
        print(f"copied to {args.out}")
    return 0
