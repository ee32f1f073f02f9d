"""The websites that embed the captcha (insideout.sites), in the data dir of INSIDEOUT_DATA_DIR.

    insideout sites add NAME --origin https://shop.example [--origin ...] [--no-alternative] [--policy K/N]
                                      one JSON line: {"sitekey": "...", "secret": "..."}
    insideout sites list              one JSON line per site (secrets are never shown again)
    insideout sites rotate-secret SITE  one JSON line with the new secret; the old one stops at once
    insideout sites remove SITE

SITE is a site key or a name. The secret is shown once: keep it on your server and pass it to
POST /api/v1/siteverify. Test keys that need no registration are in the README ("Test keys").
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="register a site; prints its site key and secret (shown once)")
    add.add_argument("name", help="a name for people (unique)")
    add.add_argument("--origin", action="append", required=True, metavar="URL",
                     help="scheme://host[:port] a page of the site is served from (repeat for more)")
    add.add_argument("--no-alternative", action="store_true",
                     help="do not offer the proof-of-work route to people who cannot hear")
    add.add_argument("--policy", metavar="K/N", default=None,
                     help="pass K of at most N rounds (default: INSIDEOUT_ROUNDS_TO_PASS / INSIDEOUT_MAX_ROUNDS)")
    actions.add_parser("list", help="every site, one JSON line each")
    rotate = actions.add_parser("rotate-secret", help="a new secret for a site (the old one stops working)")
    rotate.add_argument("site", help="its site key or name")
    remove = actions.add_parser("remove", help="remove a site (its tokens stop verifying)")
    remove.add_argument("site", help="its site key or name")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.cli import CommandError
    from insideout.services import build_metadata
    from insideout.sites import SiteError, Sites

    settings = ctx.settings()
    sites = Sites(build_metadata(settings), settings.secret_key)
    try:
        if args.action == "add":
            site, secret = sites.add(args.name, args.origin, alternative=not args.no_alternative,
                                     policy=args.policy)
            print(json.dumps({"sitekey": site.sitekey, "secret": secret}))
        elif args.action == "list":
            for site in sites.all():
                print(json.dumps(site.as_dict()))
        elif args.action == "rotate-secret":
            secret = sites.rotate_secret(args.site)
            print(json.dumps({"sitekey": sites.get(args.site).sitekey, "secret": secret}))
        elif args.action == "remove":
            if not sites.remove(args.site):
                raise CommandError(f"no site {args.site!r}", 1)
            print(json.dumps({"removed": args.site}))
    except KeyError:
        raise CommandError(f"no site {args.site!r}", 1) from None
    except SiteError as e:
        raise CommandError(str(e)) from None
    return 0
