"""The DynamoDB tables of INSIDEOUT_DYNAMODB_TABLE_PREFIX at INSIDEOUT_DYNAMODB_ENDPOINT_URL (or AWS).

    insideout dynamodb create-tables [--point-in-time-recovery]
                                      creates the tables that are missing (on-demand), turns their TTL on and
                                      records the key design's version; tables already there are left as they are
    insideout dynamodb check          says whether every table is there, at this code's key design

For development and tests (DynamoDB Local, moto). A production deployment gets its tables from the stack in
deploy/aws, with point-in-time recovery. docs/dynamodb.md has the key design.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from insideout.cli import Context


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create-tables", help="create the missing tables, TTL on")
    create.add_argument("--point-in-time-recovery", action="store_true",
                        help="turn point-in-time recovery on for the tables created (billed by AWS)")
    actions.add_parser("check", help="exit 0 when every table is there at this code's key design, else 2")


def run(args: argparse.Namespace, ctx: Context) -> int:
    from insideout.db.dynamo_client import Dynamo

    settings = ctx.settings()
    dynamo = Dynamo(settings.dynamodb_table_prefix, settings.dynamodb_endpoint_url)
    if args.action == "create-tables":
        created = dynamo.create_tables(args.point_in_time_recovery)
        print(json.dumps({"prefix": settings.dynamodb_table_prefix, "created": created}))
    else:
        dynamo.check()  # TablesMissing: the preamble prints it and exits 2
        print(json.dumps({"prefix": settings.dynamodb_table_prefix, "ok": True}))
    return 0
