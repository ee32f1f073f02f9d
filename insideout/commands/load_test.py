"""Load the captcha with simulated visitors while a generation job runs, then check the engine's invariants.

    insideout load-test [--visitors 32] [--seconds 300] [--right-rate 0.8] [--generation server|process|off]

By default it stocks a fresh data dir with synthetic clips and starts `insideout serve` on it (rate limits and
the bot verdict off, play clips without a serve budget, no restock, no fine-tune, loopback a trusted proxy so
each visitor is its own client). --url and --data-dir load a server you run instead (its data dir and storage
settings must be this process's too; --admin-password for server-side generation); its invariants are then
checked live. Prints a progress line every 10 s, then throughput, p50/p95/p99 per endpoint, errors by kind,
the generation jobs and the invariants (insideout.invariants). Exit 1 on any error, any failed generation job,
any violated invariant or lost answer (its own data dir is then kept, and removed after a pass); the logic is
insideout.loadtest's.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import CommandError

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--visitors", type=int, default=32, help="simulated visitors at once (default 32)")
    parser.add_argument("--seconds", type=float, default=300.0, help="how long they play (default 300)")
    parser.add_argument("--right-rate", type=float, default=0.8, help="share of controls answered right (0.8)")
    parser.add_argument("--agree-rate", type=float, default=0.7,
                        help="share of votes that agree with the clip's own emotion, so clips reach consensus (0.7)")
    parser.add_argument("--generation", choices=("server", "process", "off"), default="server",
                        help="server: the admin's generate job in the server process (default); process: "
                             "`insideout generate` beside it on the same data dir; off")
    parser.add_argument("--generate-count", type=int, default=8, help="clips per generation job (default 8)")
    parser.add_argument("--generation-wait", type=float, default=300.0,
                        help="seconds the last generation job may take after the visitors stop (default 300)")
    parser.add_argument("--play", type=int, default=400, help="play clips to stock (own server)")
    parser.add_argument("--unverified", type=int, default=600, help="unverified clips to stock (own server)")
    parser.add_argument("--progress", type=float, default=10.0, help="seconds between progress lines")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--data-dir", help="the data dir of --url's server")
    parser.add_argument("--admin-password", default=os.environ.get("INSIDEOUT_ADMIN_PASSWORD"),
                        help="--url's admin password, for --generation server (default: INSIDEOUT_ADMIN_PASSWORD)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout import loadtest

    if args.visitors < 1 or args.seconds <= 0 or not 0 <= args.right_rate <= 1 or not 0 <= args.agree_rate <= 1:
        raise CommandError("--visitors must be 1 or more, --seconds positive, the rates from 0 to 1", 2)
    if args.generate_count < 1:
        raise CommandError("--generate-count must be 1 or more", 2)
    config = loadtest.LoadConfig(
        visitors=args.visitors, seconds=args.seconds, right_rate=args.right_rate, agree_rate=args.agree_rate,
        generation=args.generation, generate_count=args.generate_count, generation_wait_s=args.generation_wait,
        progress_s=args.progress, seed=args.seed,
    )

    def say(line: str) -> None:
        print(line, flush=True)

    if args.url:
        if not args.data_dir:
            raise CommandError("--url needs --data-dir (to answer right and to check the invariants)", 2)
        if args.generation == "server" and not args.admin_password:
            raise CommandError("--generation server on --url needs --admin-password", 2)
        target = loadtest.running_server(args.url, Path(args.data_dir), args.admin_password)
        say(f"server {target.url} (yours); {os.cpu_count()} CPUs")
        report = loadtest.run_load(target, config, say)
    else:
        with loadtest.own_server(args.play, args.unverified, say=say) as target:
            say(f"server {target.url}, data {target.settings.data_dir}; {os.cpu_count()} CPUs; "
                f"{config.visitors} visitors for {config.seconds:.0f} s; generation: {config.generation}")
            report = loadtest.run_load(target, config, say)
    for line in loadtest.report_lines(report):
        say(line)
    passed = loadtest.ok(report)
    if not args.url:
        if passed:  # the data dir it made is only evidence when something failed
            shutil.rmtree(target.settings.data_dir, ignore_errors=True)
        else:
            say(f"data dir kept for a look: {target.settings.data_dir}")
    return 0 if passed else 1
