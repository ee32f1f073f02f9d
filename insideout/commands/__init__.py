"""The commands of `insideout` (insideout/cli.py), one module each.

Each module's docstring is its `--help` text; it exposes `add_arguments(parser)` and
`run(args, ctx) -> int`, and imports anything heavy (torch, gradio, boto3, matplotlib) inside `run`, so
that parsing and `--help` stay fast. Settings and services come from the context (cli.Context).
"""
