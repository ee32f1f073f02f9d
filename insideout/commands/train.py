"""Train the emotional Tacotron2 from the command line: long runs, on a GPU when one is there, resumable.

Data: a teacher corpus folder (--corpus, made with --render-teacher or insideout.corpus.teacher), or a pool
of the library in INSIDEOUT_DATA_DIR (--pool play|learning, --source starter). Run it again with the same
--run-dir and settings to continue from the last checkpoint (Ctrl-C checkpoints, then stops with exit 3);
raise --steps to train further.

    insideout train --render-teacher data/teacher --sentences 4000 --emotions-per-sentence 2
    insideout train --corpus data/teacher --run-dir runs/default --steps 20000
    insideout train --pool play --source starter --run-dir runs/starter --steps 2000

On a machine without the audio or espeak-ng (a rented GPU), train from a training pack: the corpus's
prepared examples in compact files (insideout/tts/trainpack.py), written where the corpus is:

    insideout train --corpus data/teacher --write-pack packs/teacher.pack --pack-parts 2
    insideout train --pack packs/teacher.1-of-2.pack packs/teacher.2-of-2.pack --run-dir runs/gpu --steps 20000

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
    data.add_argument("--pack", type=Path, nargs="+", metavar="FILE",
                      help="train on training packs (written by --write-pack) instead of a corpus")
    data.add_argument("--write-pack", type=Path, metavar="FILE",
                      help="write the corpus's prepared examples as a training pack instead of training")
    data.add_argument("--pack-parts", type=int, default=1, metavar="N",
                      help="with --write-pack: cut the pack into N files of about equal size")
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


def pack_names(path: Path, parts: int) -> list[Path]:
    """--write-pack FILE's files: FILE itself, or FILE's stem with 1-of-N .. N-of-N."""
    if parts == 1:
        return [path]
    return [path.with_name(f"{path.stem}.{i}-of-{parts}{path.suffix}") for i in range(1, parts + 1)]


def write_pack(args: argparse.Namespace, items: list) -> int:
    from insideout.tts import trainpack
    from insideout.tts.text import PHONEMES
    from insideout.tts.train import MelCache, TrainConfig, prepare_packed

    if args.pack_parts < 1:
        raise CommandError("--pack-parts must be at least 1")
    started = time.monotonic()

    def preparing(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            print(f"prepared {done} / {total}", flush=True)

    cache = MelCache(args.mel_cache or args.run_dir / "mels")
    packed = prepare_packed(items, cache, PHONEMES, TrainConfig().max_frames, progress=preparing)
    args.write_pack.parent.mkdir(parents=True, exist_ok=True)
    # Parts by round robin over the stable order: each part holds every voice, emotion and length.
    for i, path in enumerate(pack_names(args.write_pack, args.pack_parts)):
        header = trainpack.write(path, packed[i::args.pack_parts], PHONEMES)
        print(f"{path}: {header['examples']} examples, {header['frames']} frames, voices "
              f"{', '.join(v or 'unknown' for v in header['voices'])}, {header['bytes'] / 1e6:.1f} MB")
    print(f"{len(packed)} of {len(items)} items packed in {time.monotonic() - started:.0f} s")
    return 0


def pack_voices(paths: list[Path]) -> list[str]:
    from insideout.tts import trainpack
    from insideout.tts.text import PHONEMES

    try:
        return trainpack.voices(paths, PHONEMES)
    except trainpack.PackError as e:
        raise CommandError(str(e)) from e


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.render_teacher:
        return render_teacher(args)
    if sum(bool(x) for x in (args.corpus, args.pool, args.pack)) != 1:
        raise CommandError("give one of --corpus, --pool, --pack or --render-teacher")
    if args.write_pack and args.pack:
        raise CommandError("--write-pack writes a pack from --corpus or --pool, not from --pack")
    for path in args.pack or ():
        if not path.is_file():
            raise CommandError(f"{path}: no such pack")
    from insideout.tts.train import TrainConfig, TrainProgress, items_from_folder, items_from_pool, train

    items: list = []
    if args.pack:
        description = {"packs": [p.name for p in args.pack]}
        voices = pack_voices(args.pack)
    elif args.corpus:
        items = items_from_folder(args.corpus)
        description = {"corpus": str(args.corpus)}
    else:
        items = items_from_pool(ctx.services().library, args.pool, args.source)
        description = {"pool": args.pool, "source": args.source}
    if args.write_pack:
        return write_pack(args, items)
    if not args.pack:
        description["items"] = len(items)
        voices = [item.speaker for item in items]
    speakers = training_speakers(args.speakers, voices)
    config = TrainConfig(speakers=speakers,
                         preset=args.preset, init_from=args.init_from, batch_size=args.batch_size, lr=args.lr,
                         lr_half_life_steps=args.lr_half_life, guided_attention_weight=args.guided_attention_weight,
                         steps=args.steps, checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device)
    print(f"{len(voices)} items -> {args.run_dir} ({config.preset}, batch {config.batch_size}, {config.steps} steps, "
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
                       description=description, packs=args.pack or ())
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
