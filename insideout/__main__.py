"""`python -m insideout COMMAND` is `insideout COMMAND`: the same parser (insideout/cli.py), without installing."""

from insideout.cli import main

raise SystemExit(main())
