"""Two app processes (`python app.py`) sharing DynamoDB and S3 on moto's server,
behind a client that alternates between them: what one replica writes, the other reads and decides on, and
no race between them loses or doubles anything.

Each visitor is its own client (loopback is a trusted proxy, so X-Forwarded-For names it).
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from insideout.commands.bench_api import start_server
from insideout.invariants import Acknowledged, check, lost_votes
from insideout.loadtest import stop_server
from insideout.services import build_services
from insideout.settings import settings_from_env
from tests.conftest import ADMIN_TOKEN, AWS_TEST_ENV, SECRET, stock, tables_for, use_test_credentials
from tests.helpers import answers
from tests.s3_fixtures import new_bucket

REQUESTS_PER_MIN = 40  # per client, across both replicas
APP = Path(__file__).resolve().parents[1] / "app.py"


@pytest.fixture(scope="module")
def replicas(moto, tmp_path_factory):
    moto.start()
    with pytest.MonkeyPatch.context() as here:
        use_test_credentials(here)  # this process's own clients, as the replicas' (AWS_TEST_ENV)
        yield from _replicas(moto, tmp_path_factory)


def _replicas(moto, tmp_path_factory):
    env = {
        **AWS_TEST_ENV,
        "INSIDEOUT_METADATA": "dynamodb",
        "INSIDEOUT_DYNAMODB_TABLE_PREFIX": tables_for(f"r{uuid.uuid4().hex[:12]}-", moto.url),
        "INSIDEOUT_DYNAMODB_ENDPOINT_URL": moto.url,
        "INSIDEOUT_STORAGE": "s3",
        "INSIDEOUT_S3_BUCKET": new_bucket(moto),
        "INSIDEOUT_S3_ENDPOINT_URL": moto.url,
        "INSIDEOUT_S3_REGION": "us-east-1",
        "INSIDEOUT_S3_ADDRESSING_STYLE": "path",
        "INSIDEOUT_SECRET_KEY": SECRET,  # one deployment: one key signs and checks on every replica
        "INSIDEOUT_ADMIN_TOKEN": ADMIN_TOKEN,
        "INSIDEOUT_TRUSTED_PROXIES": "127.0.0.1/32",
        "INSIDEOUT_REQUEST_LIMIT_PER_MIN": str(REQUESTS_PER_MIN),
        "INSIDEOUT_RATE_LIMIT_PER_MIN": "1000",
        "INSIDEOUT_FAIL_COOLDOWN_S": "0",
        "INSIDEOUT_SERVE_BUDGET": "0",
        "INSIDEOUT_PLAY_POOL_TARGET": "0",
        "INSIDEOUT_VOTES_PER_NETWORK": "0",
        "INSIDEOUT_SUSPECT_VOTE_SHARE": "1.0",
        "INSIDEOUT_CONSENSUS_MIN_VOTES": "4",
        "INSIDEOUT_RETRAIN_THRESHOLD": "1000000",
        "INSIDEOUT_ROUNDS_TO_PASS": "1",
        "INSIDEOUT_MAX_ROUNDS": "3",
    }
    services = build_services(settings_from_env({**env, "INSIDEOUT_DATA_DIR": str(tmp_path_factory.mktemp("here"))}),
                              announce=lambda _: None)
    services.clip_ids = stock(services, play=24, unverified=3)
    dirs = [tmp_path_factory.mktemp(f"replica{i}") for i in range(2)]
    with ThreadPoolExecutor(2) as pool:  # both start at once: a start is mostly imports
        started = list(pool.map(lambda d: start_server(d, env, command=[sys.executable, str(APP)]), dirs))
    services.urls = [url for _, url in started]
    try:
        yield services
    finally:
        for proc, _ in started:
            stop_server(proc)


class Alternating:
    """One visitor's HTTP client whose every request goes to the next replica in turn."""

    def __init__(self, urls: list[str], address: str):
        self.clients = [httpx.Client(base_url=u, timeout=60, headers={"X-Forwarded-For": address}) for u in urls]
        self.turn = itertools.cycle(self.clients)

    def post(self, path: str, **kw) -> httpx.Response:
        return next(self.turn).post(path, **kw)

    def get(self, path: str, **kw) -> httpx.Response:
        return next(self.turn).get(path, **kw)

    def close(self) -> None:
        for c in self.clients:
            c.close()


_addresses = (f"10.{i // 250}.{i % 250}.1" for i in itertools.count(1))


def visitor(replicas) -> Alternating:
    return Alternating(replicas.urls, next(_addresses))


def play_to_pass(replicas, http: Alternating, vote: str = "happy") -> tuple[str, list[Acknowledged]]:
    """Open a challenge on one replica and answer its rounds on the others, the control right; its token."""
    r = http.post("/api/v1/challenges", json={})
    assert r.status_code == 201, r.text
    cid = r.json()["challenge_id"]
    acknowledged = []
    while True:
        given = answers(replicas, cid, right=True, vote=vote)
        round_no = replicas.db.get_challenge(cid).round
        r = http.post(f"/api/v1/challenges/{cid}/answer", json={"answers": given})
        assert r.status_code == 200, r.text
        acknowledged.append(Acknowledged(cid, round_no, given))
        if r.json()["status"] == "passed":
            return r.json()["token"], acknowledged


def siteverify(http: Alternating, secret: str, token: str) -> dict:
    r = http.post("/api/v1/siteverify", json={"secret": secret, "response": token})
    assert r.status_code == 200
    return r.json()


def test_a_challenge_opened_on_one_replica_is_answered_on_the_other(replicas):
    http = visitor(replicas)
    r = http.post("/api/v1/challenges", json={})  # replica 0
    cid = r.json()["challenge_id"]
    r = http.post(f"/api/v1/challenges/{cid}/answer", json={"answers": answers(replicas, cid, right=True)})  # 1
    assert r.status_code == 200 and r.json()["status"] == "passed"
    http.close()


def test_a_token_verifies_exactly_once_across_both_replicas(replicas):
    http = visitor(replicas)
    token, _ = play_to_pass(replicas, http)
    secret = replicas.sites.builtin_secret()
    first, again = siteverify(http, secret, token), siteverify(http, secret, token)  # one on each replica
    assert first["success"] is True
    assert again["success"] is False and again["error_codes"] == ["timeout-or-duplicate"]
    http.close()


def test_racing_redemptions_of_one_token_on_both_replicas_succeed_once(replicas):
    http = visitor(replicas)
    token, _ = play_to_pass(replicas, http)
    secret = replicas.sites.builtin_secret()
    barrier = threading.Barrier(6)

    def redeem(client: httpx.Client) -> bool:
        barrier.wait()
        return client.post("/api/v1/siteverify", json={"secret": secret, "response": token}).json()["success"]

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(redeem, http.clients * 3))
    assert sorted(results) == [False] * 5 + [True]
    http.close()


def test_one_round_answered_on_both_replicas_at_once_is_decided_once(replicas):
    http = visitor(replicas)
    cid = http.post("/api/v1/challenges", json={}).json()["challenge_id"]
    given = answers(replicas, cid, right=True)
    barrier = threading.Barrier(4)

    def answer(client: httpx.Client) -> int:
        barrier.wait()
        return client.post(f"/api/v1/challenges/{cid}/answer", json={"answers": given}).status_code

    with ThreadPoolExecutor(4) as pool:
        codes = list(pool.map(answer, http.clients * 2))
    assert codes.count(200) == 1 and codes.count(409) == 3
    http.close()


def test_concurrent_votes_through_both_replicas_lose_nothing_and_each_consensus_move_happens_once(replicas):
    """Sixteen visitors at once, each alternating replicas, all agreeing on the unverified clips: every
    acknowledged answer is stored with its vote, the tallies match the votes, and every clip that reached
    consensus moved to the learning pool once, its audio in that pool only."""
    acknowledged: list[Acknowledged] = []

    def visit(_: int) -> None:
        http = visitor(replicas)
        for _ in range(2):
            acknowledged.extend(play_to_pass(replicas, http, vote="happy")[1])
        http.close()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(visit, range(16)))
    db = replicas.db
    assert lost_votes(db, acknowledged) == []
    assert check(db, replicas.store) == []
    moved = db.clips("learning")
    assert moved and all(c["label"] == "happy" and c["label_source"] == "consensus" for c in moved)
    for clip in moved:
        assert replicas.store.exists("learning", clip["audio_name"])
        assert not replicas.store.exists("unverified", clip["audio_name"])
        assert db.tally(clip["id"]).get("happy", 0) >= 4


def test_the_request_limit_holds_across_both_replicas(replicas):
    """One client's requests alternate between the replicas; together they allow the limit, not twice it."""
    if time.time() % 60 > 50:  # one fixed window: do not straddle a minute's boundary
        time.sleep(61 - time.time() % 60)
    http = visitor(replicas)
    codes = [http.get("/api/v1/pow").status_code for _ in range(REQUESTS_PER_MIN + 10)]  # a puzzle: a request
    assert codes == [200] * REQUESTS_PER_MIN + [429] * 10
    http.close()
