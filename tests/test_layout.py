"""The README's layout lists every module of the tree, and nothing that is not there."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_layout() -> set[str]:
    """The paths of the README's Layout block, from its indentation (two spaces a level)."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    paths, stack = set(), []
    for line in block.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        stack = stack[:depth] + [name.rstrip("/")]
        paths.add("/".join(stack) + ("/" if name.endswith("/") else ""))
    return paths


def tree() -> set[str]:
    """Every module and package of insideout/ (a package's __init__ is the package), and the top level."""
    out = {"app.py", "models/", "data/", "tests/", "examples/", "deploy/"}
    for path in (ROOT / "insideout").rglob("*.js"):  # the browser's scripts: a folder of the layout
        out.add(path.parent.relative_to(ROOT).as_posix() + "/")
    for path in (ROOT / "insideout").rglob("*.py"):
        if "__pycache__" in path.parts:
            continue
        rel = path.relative_to(ROOT)
        for i in range(1, len(rel.parts)):
            out.add("/".join(rel.parts[:i]) + "/")
        # The commands are one line of the layout: `insideout --help` lists them.
        if path.name != "__init__.py" and rel.parent.name != "commands":
            out.add(rel.as_posix())
    return out


def test_the_readme_layout_lists_every_module():
    assert tree() - readme_layout() == set()


def test_the_readme_layout_names_nothing_that_is_not_there():
    assert readme_layout() - tree() == set()
