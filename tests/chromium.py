"""Debian's Chromium under Playwright, for the browser tests (.ci/install_browser.sh installs it; Playwright's
own browser download cannot reach its host here). The arguments are the benchmark's (one home). WAIT_MS is how
long the browser tests wait for a page, by their own calls and by expect()."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from insideout.commands.bench_widget import CHROMIUM_ARGS  # noqa: F401 - the tests import it from here

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 20_000
# expect() waits 5 s by default: a Gradio page on a loaded 2-core CI machine can take longer to come up.
expect.set_options(timeout=WAIT_MS)


@contextmanager
def launched(artifacts: Path) -> Iterator[Browser]:
    """A headless Chromium, with the folder for the test's screenshots made. Without the browser a test is
    skipped on a developer's machine and fails in CI."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: run .ci/install_browser.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
