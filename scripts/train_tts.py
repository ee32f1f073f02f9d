"""Train the emotional Tacotron2 from the command line: long runs, on a GPU when one is there, resumable.

Data: a teacher corpus folder (--corpus, made with --render-teacher or insideout.tts.teacher), or a pool
of the library in INSIDEOUT_DATA_DIR (--pool play|learning, --source starter). Run it again with the same
--run-dir and settings to continue from the last checkpoint (Ctrl-C checkpoints, then stops); raise
--steps to train further.

    python scripts/train_tts.py --render-teacher data/teacher --sentences 4000 --emotions-per-sentence 2
    python scripts/train_tts.py --corpus data/teacher --run-dir runs/default --steps 20000
    python scripts/train_tts.py --pool play --source starter --run-dir runs/starter --steps 2000
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from insideout.tts.train import TrainConfig, TrainProgress, items_from_folder, items_from_pool, train  # noqa: E402


def render_teacher(args: argparse.Namespace) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    run.add_argument("--out", type=Path, help="also copy the finished model here (e.g. models/tacotron2-emotion.pt)")
    args = parser.parse_args()

    if args.render_teacher:
        render_teacher(args)
        return
    if args.corpus:
        items = items_from_folder(args.corpus)
        description = {"corpus": str(args.corpus)}
    elif args.pool:
        from insideout.services import build_services
        from insideout.settings import load_settings

        services = build_services(load_settings())
        items = items_from_pool(services.library, args.pool, args.source)
        description = {"pool": args.pool, "source": args.source}
    else:
        parser.error("give --corpus, --pool or --render-teacher")
    description["items"] = len(items)
    config = TrainConfig(preset=args.preset, init_from=args.init_from, batch_size=args.batch_size, lr=args.lr,
                         lr_half_life_steps=args.lr_half_life, guided_attention_weight=args.guided_attention_weight,
                         steps=args.steps, checkpoint_every=args.checkpoint_every, seed=args.seed, device=args.device)
    print(f"{len(items)} items -> {args.run_dir} ({config.preset}, batch {config.batch_size}, {config.steps} steps)")
    last = [0.0]

    def progress(p: TrainProgress) -> None:
        if time.monotonic() - last[0] > 10 or p.step == p.steps:
            last[0] = time.monotonic()
            print(f"step {p.step} / {p.steps}  loss {p.loss:.4f}  {p.seconds / 60:.1f} min  "
                  f"ETA {p.eta_s / 60:.1f} min", flush=True)

    # Ctrl-C asks to stop; the loop stops between steps, after writing a checkpoint.
    stop_asked = []
    signal.signal(signal.SIGINT, lambda *_: stop_asked.append(1))

    def check_stop() -> None:
        if stop_asked:
            raise KeyboardInterrupt

    try:
        result = train(items, config, args.run_dir, args.mel_cache, progress=progress, check_cancel=check_stop,
                       description=description)
    except KeyboardInterrupt:
        print(f"stopped; checkpoint in {args.run_dir}: run the same command to continue")
        raise SystemExit(130) from None
    print(f"model {result.version} after {result.steps} steps -> {result.model_path}")
    if args.out:
        import shutil

        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result.model_path, args.out)
        print(f"copied to {args.out}")


if __name__ == "__main__":
    main()
