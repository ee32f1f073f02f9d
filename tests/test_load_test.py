"""The load test at a small size, through the real command: `insideout load-test` starts `insideout serve` on a
fresh data dir, 4 visitors play it over loopback while the admin's generation job runs in the server, and
afterwards every acknowledged answer and vote is stored, no request failed and every invariant holds."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from insideout.loadtest import is_server_error, visitor_address


@pytest.fixture(scope="module")
def small_run() -> subprocess.CompletedProcess:
    # Consensus at 2 votes that all agree: 4 visitors are enough to move clips from unverified to learning under
    # load (the server inherits this environment through start_server).
    env = {**os.environ, "INSIDEOUT_CONSENSUS_MIN_VOTES": "2", "GRADIO_ANALYTICS_ENABLED": "False",
           "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "insideout", "load-test", "--visitors", "4", "--seconds", "12", "--progress", "4",
           "--agree-rate", "1", "--generate-count", "1", "--play", "40", "--unverified", "40"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)


def test_the_small_load_test_passes_with_no_error_and_no_lost_vote(small_run):
    out = small_run.stdout
    assert small_run.returncode == 0, out + small_run.stderr
    assert "errors: 0 (0 server errors: 5xx or connection)" in out
    assert "invariants (after the server stopped, settled): 0 violations; lost answers or votes: 0" in out
    assert out.rstrip().endswith("PASS")


def test_the_small_load_test_prints_progress_and_a_latency_row_per_endpoint(small_run):
    out = small_run.stdout
    assert len(re.findall(r"^\[\s*\d+ s\] visits \d+", out, re.M)) >= 2
    for endpoint in ("create", "audio", "answer", "siteverify"):
        row = re.search(rf"^  {endpoint}\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$", out, re.M)
        assert row is not None, endpoint
        n, p50, p95, p99, worst = (float(x) for x in row.groups())
        assert n > 0 and 0 < p50 <= p95 <= p99 <= worst


def test_the_small_load_test_votes_moves_clips_and_generates_in_the_server(small_run):
    out = small_run.stdout
    stored = re.search(r"library: (\d+) votes stored from (\d+) acknowledged answers \((\d+) counted\); "
                       r"pools now play \d+, unverified \d+, learning (\d+)", out)
    assert stored is not None, out
    votes, answers, counted, learning = (int(x) for x in stored.groups())
    assert answers > 0 and votes > 0 and counted > 0
    assert learning > 0  # consensus moved clips (their audio too) while visitors played
    made = re.search(r"generation in the server process \(admin generate, a job\): (\d+) jobs of 1 clips, (\d+) "
                     r"clips made, 0 jobs not done", out)
    assert made is not None, out
    assert int(made.group(2)) >= 1


def test_visitors_each_have_an_address_in_their_own_network():
    addresses = [visitor_address(i) for i in range(300)]
    assert len({a.rsplit(".", 1)[0] for a in addresses}) == 300
    assert all(a.startswith(("198.18.", "198.19.")) for a in addresses)


def test_a_5xx_and_a_dropped_connection_are_server_errors_and_a_refusal_is_not():
    assert is_server_error("answer 500 internal_error")
    assert is_server_error("audio connection RemoteProtocolError")
    assert not is_server_error("create 429 rate_limited")
