"""Serve InsideOut (what Hugging Face Spaces runs): the same as `insideout serve`, see insideout/commands/serve.py."""

from insideout.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["serve"]))
