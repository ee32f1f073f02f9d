"""What only the DynamoDB backend has: its tables and their check, the commands that make them, expiry by TTL,
a captcha cycle that reads no table whole, random picks without a scan, and rate-limit windows every replica
shares. (The engine's behaviour on DynamoDB is the engine's own test modules, run on both backends.)"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter

import pytest

from insideout.cli import main
from insideout.db.dynamo_client import SCHEMA_VERSION, Dynamo, TablesMissing
from insideout.db.dynamo_limits import SharedWindow
from insideout.db.dynamo_tables import TABLES
from insideout.db.dynamodb import KEEP_CHALLENGES_S, KEEP_TOKENS_S
from insideout.services import build_services
from tests.conftest import make_settings, stock, tables_for
from tests.helpers import answers


@pytest.fixture
def endpoint(moto, aws_env, monkeypatch):
    moto.start()
    monkeypatch.setenv("INSIDEOUT_METADATA", "dynamodb")
    monkeypatch.setenv("INSIDEOUT_DYNAMODB_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("INSIDEOUT_DYNAMODB_TABLE_PREFIX", tables_for(f"d{uuid.uuid4().hex[:12]}-", moto.url))
    return moto


@pytest.fixture
def stocked(endpoint, tmp_path):
    services = build_services(make_settings(tmp_path / "data"), announce=lambda _: None)
    services.clip_ids = stock(services)
    return services


def test_create_tables_makes_every_table_with_its_ttl_and_a_rerun_makes_none(endpoint, monkeypatch, capsys):
    prefix = f"c{uuid.uuid4().hex[:10]}-"
    monkeypatch.setenv("INSIDEOUT_DYNAMODB_TABLE_PREFIX", prefix)
    assert main(["dynamodb", "check"]) == 2
    assert "insideout dynamodb create-tables" in capsys.readouterr().err
    assert main(["dynamodb", "create-tables"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["created"]) == sorted(t.full_name(prefix) for t in TABLES)
    d = Dynamo(prefix, endpoint.url)
    for table in TABLES:
        ttl = d.client.describe_time_to_live(TableName=table.full_name(prefix))["TimeToLiveDescription"]
        assert (ttl.get("AttributeName"), ttl["TimeToLiveStatus"]) == (
            (table.ttl, "ENABLED") if table.ttl else (None, "DISABLED"))
    assert d.get("admin", pk="schema", sk=0)["version"] == SCHEMA_VERSION
    assert main(["dynamodb", "create-tables"]) == 0
    assert '"created": []' in capsys.readouterr().out
    assert main(["dynamodb", "check"]) == 0


def test_a_start_without_the_tables_stops_with_what_to_run(endpoint, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("INSIDEOUT_DYNAMODB_TABLE_PREFIX", "missing-")
    monkeypatch.setenv("INSIDEOUT_DATA_DIR", str(tmp_path / "data"))
    assert main(["sites", "list"]) == 2
    err = capsys.readouterr().err
    assert "DynamoDB tables missing: missing-clips" in err and "insideout dynamodb create-tables" in err
    with pytest.raises(TablesMissing, match="deploy/aws"):
        Dynamo("missing-", endpoint.url).check()


def test_tables_of_another_key_design_version_are_refused(endpoint):
    prefix = tables_for(f"v{uuid.uuid4().hex[:10]}-", endpoint.url)
    d = Dynamo(prefix, endpoint.url)
    d.put("admin", {"pk": "schema", "sk": 0, "version": SCHEMA_VERSION + 1})
    with pytest.raises(TablesMissing, match=f"version {SCHEMA_VERSION + 1}"):
        d.check()


def test_a_captcha_cycle_reads_no_table_whole(stocked):
    d = stocked.db.d
    d.calls.clear()
    view = stocked.captcha.create("198.51.100.9")
    result = stocked.captcha.answer(view.challenge_id, answers(stocked, view.challenge_id, True), "198.51.100.9")
    assert result.token
    assert "Scan" not in d.calls and sum(d.calls.values()) > 0


def test_challenges_and_tokens_carry_a_ttl_past_their_expiry(stocked):
    view = stocked.captcha.create("198.51.100.10")
    result = stocked.captcha.answer(view.challenge_id, answers(stocked, view.challenge_id, True), "198.51.100.10")
    d = stocked.db.d
    challenge = d.get("challenges", id=view.challenge_id)
    assert challenge["ttl"] == int(challenge["expires_at"]) + KEEP_CHALLENGES_S
    token = next(iter(d.scan("tokens", "challenge_id = :c", {":c": view.challenge_id})))
    assert token["ttl"] == int(token["expires_at"]) + KEEP_TOKENS_S and result.token


def test_the_analytics_keep_answered_rounds_after_their_challenge_expired(stocked):
    view = stocked.captcha.create("198.51.100.11")
    stocked.captcha.answer(view.challenge_id, answers(stocked, view.challenge_id, True), "198.51.100.11")
    before = (stocked.db.round_totals(), stocked.db.challenge_counts())
    stocked.db.d.delete("challenges", {"id": view.challenge_id})  # what TTL does, two days on
    assert (stocked.db.round_totals(), stocked.db.challenge_counts()) == before == ((1, 1), {"passed": 1})


def test_random_picks_reach_every_play_clip_without_a_scan(stocked):
    d = stocked.db.d
    d.calls.clear()
    served = Counter(stocked.db.take_plays([[]], 0, time.time())[0] for _ in range(320))
    assert set(served) == set(stocked.clip_ids["play"])  # 16 clips, 20 picks each on average
    assert max(served.values()) < 60 and "Scan" not in d.calls


def test_a_serve_budget_retires_a_clip_once_even_when_two_picks_race(stocked):
    only = stocked.clip_ids["play"][0]
    for clip_id in stocked.clip_ids["play"][1:]:
        stocked.db.retire(clip_id, "play", "test", time.time())
    assert stocked.db.take_plays([[]], 2, time.time()) == [only]
    assert stocked.db.take_plays([[]], 2, time.time()) == [only]  # its second serving spends it
    assert stocked.db.take_plays([[]], 2, time.time()) is None
    assert stocked.db.get_clip(only)["served"] == 2 and stocked.db.count_pickable("play") == 0


def test_a_shared_window_counts_every_replicas_hits_against_one_limit(endpoint):
    prefix = tables_for(f"w{uuid.uuid4().hex[:10]}-", endpoint.url)
    one, two = (SharedWindow(Dynamo(prefix, endpoint.url), "requests", limit=3) for _ in range(2))
    now = 60 * 16_667 + 20.0  # 20 s into a minute
    assert [one.hit("c", now), two.hit("c", now), one.hit("c", now)] == [0.0, 0.0, 0.0]
    assert two.hit("c", now) == pytest.approx(40.0) and one.count("c", now) == 3
    assert two.hit("someone else", now) == 0.0
    assert one.hit("c", now + 40.0) == 0.0  # the next minute's window
