"""The CDK app: `python app.py` synthesizes the InsideOut stack (stack.py) offline into $CDK_OUTDIR, else
cdk.out/ beside this file; `cdk deploy` (cdk.json names this file) does the same and then deploys.

The repository root goes on sys.path so the stack reads the key design from the checkout it deploys
(insideout.db.dynamo_tables), installed or not.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1])]

from aws_cdk import App  # noqa: E402 - after the path is set
from stack import InsideOutStack  # noqa: E402


def build(outdir: str | None = None) -> App:
    """The app with its one stack; `outdir` else $CDK_OUTDIR (what the cdk CLI sets) else ./cdk.out."""
    app = App(outdir=outdir or os.environ.get("CDK_OUTDIR") or str(HERE / "cdk.out"))
    InsideOutStack(app, app.node.try_get_context("stack_name") or "InsideOut",
                   description="InsideOut: emotion audio captcha (buckets, tables, API on Lambda, Gradio app)")
    return app


if __name__ == "__main__":
    build().synth()
