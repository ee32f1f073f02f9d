"""Schemathesis against the real server's OpenAPI, as an outside reviewer runs it: every phase (coverage,
fuzzing, and the stateful phase that follows the document's links from a new challenge to its audio, its
answer and siteverify) and every check (no 5xx, only documented statuses, bodies as documented, schema-valid
requests accepted, invalid ones refused, 405 for undeclared methods...). tests/schemathesis.toml says where the
API's documented behaviour differs from a check's assumption, and why.

A few hundred cases here; for a long run against a server of your own:
    schemathesis --config-file tests/schemathesis.toml run http://127.0.0.1:7860/openapi.json -n 1000 \\
        -H "Authorization: Bearer $INSIDEOUT_ADMIN_TOKEN"
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from insideout.invariants import check
from tests.conftest import ADMIN_TOKEN, serve

CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """A live server after schemathesis ran every phase against it, and what schemathesis printed."""
    with serve(tmp_path_factory.mktemp("fuzz"), play=24, unverified=4, admin_token=ADMIN_TOKEN) as live:
        run = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--no-color", "--config-file", str(CONFIG), "run",
             f"{live.url}/openapi.json", "--max-examples", "20", "--seed", "15", "--generation-database", "none",
             "--workers", "1", "-H", f"Authorization: Bearer {ADMIN_TOKEN}"],
            capture_output=True, text=True, timeout=600)
        yield live, run.returncode, run.stdout + run.stderr


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(fuzzed):
    _, code, report = fuzzed
    assert code == 0, report
    assert re.search(r"\d+ generated, \d+ passed", report), report


def test_every_phase_ran_the_stateful_one_along_the_documents_links(fuzzed):
    _, _, report = fuzzed
    for phase in ("Coverage", "Fuzzing", "Stateful"):
        assert re.search(rf"✅ +{phase}", report), report
    scenarios = int(re.search(r"Scenarios: +(\d+)", report).group(1))
    covered = int(re.search(r"API Links: +(\d+) covered", report).group(1))
    assert scenarios >= 10 and covered >= 2, report


def test_after_the_fuzzing_the_library_keeps_its_invariants(fuzzed):
    live, _, _ = fuzzed
    assert check(live.services.db, live.services.store) == []
