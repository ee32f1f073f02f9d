"""The `insideout` command line: one parser with a subcommand per task, and the one preamble they share.

The preamble is here so that every command treats logging, settings, storage errors, Ctrl-C and exit
codes the same way; each command's own code lives in insideout/commands/<module>.py, which exposes
`add_arguments(parser)` and `run(args, ctx) -> int`. A command's module is imported only when that
command is asked for (its run or its --help), so `insideout --help` imports neither torch nor gradio.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .services import Services
    from .settings import Settings

OK, SOME_FAILED, BAD_START, STOPPED = 0, 1, 2, 3

EXIT_CODES = """\
exit codes:
  0  done
  1  some items failed (the rest were done; the output says which and why)
  2  bad settings or arguments, or the audio storage failed at start: nothing was done
  3  stopped early (interrupted, or an outage): run the same command again to resume

Settings come from INSIDEOUT_* environment variables: `insideout settings` lists them."""


@dataclass(frozen=True)
class Command:
    name: str
    module: str  # under insideout.commands
    summary: str  # the one line `insideout --help` shows

    def load(self) -> ModuleType:
        return importlib.import_module(f"insideout.commands.{self.module}")


COMMANDS = (
    Command("serve", "serve", "serve the web app and the HTTP API (what `python app.py` does)"),
    Command("build-corpus", "build_corpus", "synthesize the starter library into the library, offline"),
    Command("report", "report", "per-emotion duration, F0, F0 range and energy of the library, with a plot"),
    Command("import", "import_clips", "import the clips a CSV manifest (path,emotion) lists"),
    Command("import-ravdess", "import_ravdess", "import a RAVDESS folder (your own copy)"),
    Command("generate", "generate", "generate clips with the acoustic model for the crowd to label"),
    Command("train", "train", "train the emotional Tacotron2, or render a teacher corpus"),
    Command("distill-vocoder", "distill_vocoder", "distil the lighter, faster vocoder from HiFi-GAN V1 (resumable)"),
    Command("train-refiner", "train_refiner",
            "train the mel refiner that gives guided mels back their voice quality (resumable)"),
    Command("emphasize-refiner", "emphasize_refiner",
            "write a mel refiner file with a per-emotion sharpening after its net"),
    Command("eval", "evaluate", "evaluate an acoustic model on held-out sentences (the model card's numbers)"),
    Command("migrate", "migrate", "copy the library's audio between local disk and S3"),
    Command("plot-losses", "plot_losses", "plot the training loss of a model's runs, end to end"),
    Command("bench-api", "bench_api", "benchmark full captcha cycles over HTTP"),
    Command("bench-store", "bench_store", "benchmark put, get and move of the local and S3 audio stores"),
    Command("bench-tts", "bench_tts", "real-time factors of speech synthesis on this machine"),
    Command("bench-restock", "bench_restock", "fresh clips: synthesis rate against challenge demand, and beyond it"),
    Command("bench-pow", "bench_pow", "proof of work: the server's cost, and a bot's and a browser's per difficulty"),
    Command("bench-hardness", "bench_hardness",
            "machine-hard controls: the judge's render cost, and how far its hardness transfers to the attackers"),
    Command("bench-adversarial", "bench_adversarial",
            "adversarial perturbation: the surrogate, the recipe attacker and one retrained on perturbed audio"),
    Command("bots", "bots", "the bot lab: attackers play the captcha over HTTP; pass rates with intervals"),
    Command("sites", "sites", "the websites that embed the captcha: add (prints the site key and secret), list, "
                              "rotate-secret, remove"),
    Command("bench-widget", "bench_widget",
            "widget.js size and the time from script load to an interactive round, beside the Gradio captcha"),
    Command("bench-dashboard", "bench_dashboard",
            "the admin dashboard with a research-sized database (10,000 votes): the Admin tab's handlers, timed"),
    Command("load-test", "load_test",
            "simulated visitors on loopback while a generation job runs: latency per endpoint, errors, invariants"),
    Command("bench-limits", "bench_limits",
            "hostile connections (huge and slow headers, slowloris): what the server's limits let through"),
    Command("dynamodb", "dynamodb", "the DynamoDB tables of a deployment: create-tables (development), check"),
    Command("settings", "show_settings", "list every INSIDEOUT_* setting with its default and help"),
)
BY_NAME = {c.name: c for c in COMMANDS}


class CommandError(Exception):
    """A command cannot go on: the message is printed as `insideout <command>: <message>`, then it exits."""

    def __init__(self, message: str, code: int = BAD_START):
        super().__init__(message)
        self.code = code


class Context:
    """What the preamble gives a command: settings and services, loaded on first use, so a command that
    needs none (a benchmark, a plot) runs without a data dir, and one that needs them fails the same way
    as every other when a setting is bad."""

    def __init__(self, command: str):
        self.command = command
        self._settings: Settings | None = None
        self._services: Services | None = None

    def settings(self) -> Settings:
        """The validated settings, with the data dir's secret key (made on first use)."""
        if self._settings is None:
            from .settings import load_settings

            self._settings = load_settings()
        return self._settings

    def services(self) -> Services:
        if self._services is None:
            settings = self.settings()  # a bad setting is reported before the engine's imports
            from .services import build_services

            self._services = build_services(settings)
        return self._services


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; only `command`'s module is imported, to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="insideout", description="InsideOut: an emotion-based audio CAPTCHA and crowd-labeling platform.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                       title="commands (insideout COMMAND --help for each)")
    for spec in COMMANDS:
        sub = subparsers.add_parser(spec.name, help=spec.summary, description=spec.summary, epilog=EXIT_CODES,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        if spec.name == command:
            module = spec.load()
            sub.description = module.__doc__ or spec.summary
            module.add_arguments(sub)
    return parser


def _chosen(argv: Sequence[str]) -> str | None:
    # The top level takes no option with a value, so the first word that is not an option is the command.
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (argparse itself exits 2 on bad arguments, 0 on --help)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = _chosen(argv)
    args = build_parser(name if name in BY_NAME else None).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("insideout").setLevel(logging.INFO)  # ours at INFO; libraries only warn
    import sqlite3

    from .db.dynamo_client import TablesMissing
    from .disk_errors import FULL, diagnose
    from .settings import SettingsError
    from .storage import StoreError

    ctx = Context(args.command)
    try:
        return BY_NAME[args.command].load().run(args, ctx)
    except SettingsError as e:
        print(f"insideout: bad setting: {e}", file=sys.stderr)
        return BAD_START
    except StoreError as e:
        print(f"insideout: audio storage: {e}", file=sys.stderr)
        return BAD_START
    except TablesMissing as e:
        print(f"insideout: metadata: {e}", file=sys.stderr)
        return BAD_START
    except CommandError as e:
        print(f"insideout {args.command}: {e}", file=sys.stderr)
        return e.code
    except (OSError, sqlite3.Error) as e:
        problem = diagnose(e)  # a full or read-only disk: one sentence, not a traceback
        if problem is None:
            raise
        print(f"insideout {args.command}: {problem.message}", file=sys.stderr)
        return STOPPED if problem.kind == FULL else BAD_START
    except KeyboardInterrupt:
        print(f"insideout {args.command}: interrupted", file=sys.stderr)
        return STOPPED
