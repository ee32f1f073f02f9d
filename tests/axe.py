"""axe-core inside a Playwright page: the accessibility check of the browser tests.

.ci/install_browser.sh installs axe-core from npm under tests/.axe; a test injects it into the page it
has open and asks for the WCAG 2.x A and AA rules (2.2 included). Only serious and critical violations fail
a test; the rest are returned for the test to print.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

AXE_JS = Path(__file__).parent / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = ("serious", "critical")


DETACHED = ":root"  # axe's name for a node it can no longer find in the document
TRIES = 3
# Gradio's loading overlay: its timer text is drawn while an event runs and fades (opacity) as it ends, so axe
# may read it half transparent. CI saw that once in the admin's Sites section, on attached nodes.
OVERLAY = "status-tracker"  # its data-testid
OVERLAY_TEXT = (".meta-text", ".meta-text-center", ".progress-text", ".eta-bar")
QUIET = f"""() => ![...document.querySelectorAll('[data-testid="{OVERLAY}"]')].some(w =>
    w.querySelector('{", ".join(OVERLAY_TEXT)}')
    && getComputedStyle(w).opacity !== '0' && w.offsetParent !== null)"""


def _transient(violation: dict[str, Any]) -> bool:
    """Whether every node of a violation was gone or was Gradio's passing loading overlay."""
    return bool(violation["targets"]) and all(
        t == DETACHED or any(mark in t for mark in (OVERLAY, *OVERLAY_TEXT)) for t in violation["targets"])


def run_axe(page: Any, context: str | None = None) -> list[dict[str, Any]]:
    """Every violation axe finds in the page (or in the element that the CSS selector context names),
    each as {"id", "impact", "help", "targets"}. axe reaches into open shadow roots by itself.

    axe runs once no loading overlay shows (QUIET). A violation whose nodes are all DETACHED (an element the page
    removed while axe ran) or on a loading overlay that came up meanwhile is transient: axe runs again, up to
    TRIES times, and a violation that stays is reported as found."""
    if not AXE_JS.exists():
        raise RuntimeError(f"{AXE_JS} is missing: run `bash .ci/install_browser.sh`")
    page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    for _ in range(TRIES):
        page.wait_for_function(QUIET, timeout=30_000)
        result = list(page.evaluate(
            """async ([context, tags]) => {
                const target = context ? document.querySelector(context) : document;
                const r = await axe.run(target, {runOnly: {type: "tag", values: tags}});
                return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                               targets: v.nodes.map(n => n.target.join(" "))}));
            }""",
            [context, TAGS],
        ))
        if not any(_transient(v) for v in result):
            break
        page.wait_for_timeout(500)
    return result


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The serious and critical ones: what a test fails on."""
    return [v for v in violations if v["impact"] in BLOCKING]
