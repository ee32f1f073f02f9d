"""The S3 store against moto's server on loopback: the store contract on both stores, the library on S3,
outages in the middle of a move and of a migration, clear errors at start, and the whole app on S3."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import boto3
import moto.settings as moto_settings
import numpy as np
import pytest
from botocore.exceptions import ClientError

from insideout.db import POOLS
from insideout.library import ClipInfo
from insideout.services import build_services
from insideout.settings import S3Location, S3Settings, SettingsError, settings_from_env
from insideout.storage import AudioMissing, LocalStore, S3Store, StoreError, StoreUnavailable
from insideout.store_migration import migrate_audio
from tests import s3_fixtures
from tests.conftest import LiveServer, make_settings, stock, tone, wav_bytes
from tests.helpers import answers
from tests.s3_fixtures import CuttingProxy, MotoEndpoint, audio_everywhere, s3_services, s3_settings, stop_after

# pytest looks fixtures up by name in the test module: these are the shared ones of s3_fixtures.
moto, aws_env, s3 = s3_fixtures.moto, s3_fixtures.aws_env, s3_fixtures.s3
any_store, any_stocked, stocked_s3 = s3_fixtures.any_store, s3_fixtures.any_stocked, s3_fixtures.stocked_s3

ROOT = Path(__file__).resolve().parent.parent
A, B = "ab" * 16, "cd" * 16
AUDIO = wav_bytes(tone(1))


# -- the store contract, on LocalStore and on S3Store (prefixes of one bucket, a bucket per pool) ----


def test_put_get_size_exists_delete(any_store):
    assert not any_store.exists("play", A)
    any_store.put("play", A, AUDIO)
    assert any_store.get("play", A) == AUDIO
    assert any_store.size("play", A) == len(AUDIO)
    assert any_store.exists("play", A) and not any_store.exists("learning", A)
    any_store.put("play", A, b"shorter")  # a put replaces the whole object
    assert any_store.get("play", A) == b"shorter"
    any_store.delete("play", A)
    any_store.delete("play", A)  # deleting what is gone is no error: repair may retry a delete
    assert not any_store.exists("play", A)


def test_missing_audio_is_audio_missing(any_store):
    for call in (lambda: any_store.get("play", A), lambda: any_store.size("play", A),
                 lambda: any_store.copy("play", "learning", A)):
        with pytest.raises(AudioMissing):
            call()


def test_copy_leaves_the_source_and_copying_in_place_is_nothing(any_store):
    any_store.put("unverified", A, AUDIO)
    any_store.copy("unverified", "learning", A)
    any_store.copy("unverified", "learning", A)  # again, as a resumed move does
    any_store.copy("learning", "learning", A)
    assert any_store.get("learning", A) == any_store.get("unverified", A) == AUDIO


def test_names_are_the_pools_own_audio_only(any_store, s3):
    any_store.put("play", A, AUDIO)
    any_store.put("learning", B, AUDIO)
    # Things that are not ours beside the audio: notes, a nested folder, a copy with another ending.
    if isinstance(any_store, LocalStore):
        (any_store.root / "play" / "notes.txt").write_text("x")
        (any_store.root / "play" / f"{B}.wav.bak").write_text("x")
    else:
        loc = any_store.settings.location("play")
        for key in ("notes.txt", f"nested/{B}.wav", f"{B}.wav.bak", f"{B.upper()}.wav"):
            s3.admin().put_object(Bucket=loc.bucket, Key=loc.prefix + key, Body=b"x")
    assert {p: sorted(any_store.names(p)) for p in POOLS} == {"play": [A], "unverified": [], "learning": [B]}


def test_keys_that_could_escape_are_refused(any_store):
    for pool, name in [("play", "../../etc/passwd"), ("play", "a" * 31), ("play", "A" * 32), ("../play", "a" * 32),
                       ("play", "a" * 32 + "/../x")]:
        with pytest.raises(StoreError):
            any_store.put(pool, name, AUDIO)
        with pytest.raises(StoreError):
            any_store.get(pool, name)


# -- what S3 holds and how it is asked ------------------------------------------------------------


@pytest.mark.parametrize("layout", ["s3-prefixes", "s3-buckets"])
def test_s3_objects_are_bare_audio_under_random_keys(s3, layout):
    store = S3Store(s3_settings(s3, layout))
    sent: list[dict] = []
    store.client.meta.events.register("before-send.s3", lambda request, **_: sent.append(dict(request.headers)))
    store.put("play", A, AUDIO)
    store.copy("play", "learning", A)
    admin = s3.admin()
    for pool in ("play", "learning"):
        loc = store.settings.location(pool)
        keys = [o["Key"] for o in admin.list_objects_v2(Bucket=loc.bucket).get("Contents", [])]
        assert f"{loc.prefix}{A}.wav" in keys
        head = admin.head_object(Bucket=loc.bucket, Key=f"{loc.prefix}{A}.wav")
        assert head["Metadata"] == {}  # no label, no clip id, nothing
        grants = admin.get_object_acl(Bucket=loc.bucket, Key=f"{loc.prefix}{A}.wav")["Grants"]
        assert all("URI" not in g["Grantee"] for g in grants)  # no AllUsers / AuthenticatedUsers grant
    if layout == "s3-prefixes":
        assert len({loc.bucket for loc in store.settings.locations}) == 1
    else:
        assert len({loc.bucket for loc in store.settings.locations}) == 3
    assert sent and not any(k.lower().startswith(("x-amz-acl", "x-amz-meta-", "x-amz-grant")) for h in sent for k in h)
    assert not any(hasattr(store, n) for n in ("url", "presign", "public_url"))


def test_without_copy_object_a_copy_goes_through_the_store(s3):
    """An S3 API without CopyObject answers 501 NotImplemented; the store copies by get and put."""
    store = S3Store(s3_settings(s3))
    store.put("play", A, AUDIO)

    def not_implemented(**_):
        raise ClientError({"Error": {"Code": "NotImplemented", "Message": "no"},
                           "ResponseMetadata": {"HTTPStatusCode": 501}}, "CopyObject")

    # A mock of a fault moto cannot make: it implements CopyObject.
    store.client.meta.events.register("before-call.s3.CopyObject", not_implemented)
    store.copy("play", "learning", A)
    assert store.get("learning", A) == AUDIO and store._copy_on_server is False


# -- clear errors at start --------------------------------------------------------------------------


def test_a_missing_bucket_stops_the_start_and_is_named(tmp_path, s3):
    settings = s3_settings(s3, "s3-buckets")
    missing = settings.locations[1].bucket + "-gone"
    settings = replace(settings, locations=(settings.locations[0], S3Location("unverified", missing, ""),
                                            settings.locations[2]))
    with pytest.raises(StoreError, match=rf"bucket '{missing}' \(pool unverified\) does not exist .*"
                                         r"INSIDEOUT_S3_BUCKET_UNVERIFIED"):
        build_services(make_settings(tmp_path / "data", storage="s3", s3=settings))


@pytest.fixture
def moto_auth(s3, monkeypatch):
    """moto checking signatures: a user with an access key allowed all of S3, then authentication on."""
    iam = boto3.client("iam", endpoint_url=s3.url, region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    user = f"insideout-{os.urandom(4).hex()}"
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    # Buckets made while no key is checked yet; a bucket per pool, no prefixes: moto 5.2.1 miscomputes the
    # signature of a listing whose prefix holds a '/', which AWS accepts.
    settings = s3_settings(s3, "s3-buckets")
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    return key["AccessKeyId"], key["SecretAccessKey"], settings


def session(key_id: str, secret: str) -> boto3.session.Session:
    return boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret)


def test_wrong_credentials_stop_the_start_with_what_to_fix(s3, moto_auth):
    key_id, secret, settings = moto_auth
    S3Store(settings, session(key_id, secret)).check()  # the right pair passes
    with pytest.raises(StoreError, match="secret key does not belong.*AWS_SECRET_ACCESS_KEY"):
        S3Store(settings, session(key_id, "not-the-secret")).check()
    with pytest.raises(StoreError, match="does not know the access key id.*AWS_ACCESS_KEY_ID"):
        S3Store(settings, session("AKIAUNKNOWN000000000", secret)).check()


def test_no_credentials_at_all_say_what_to_set(s3, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match="no usable S3 credentials.*AWS_ACCESS_KEY_ID"):
        S3Store(s3_settings(s3)).check()


def test_an_unreachable_endpoint_is_unavailable(s3):
    s3.stop()
    with pytest.raises(StoreUnavailable, match=f"S3 at {s3.url} did not answer"):
        S3Store(s3_settings_offline(s3)).check()


def s3_settings_offline(s3: MotoEndpoint) -> S3Settings:
    return S3Settings(locations=tuple(S3Location(p, "insideout-offline", f"{p}/") for p in POOLS),
                      endpoint_url=s3.url, region="us-east-1", addressing_style="path", max_attempts=2, timeout_s=1)


# -- transient trouble ----------------------------------------------------------------------------


def test_a_short_outage_is_ridden_out_by_the_retries(s3):
    store = S3Store(s3_settings(s3, max_attempts=8))
    s3.stop()
    threading.Timer(0.3, s3.start).start()
    store.put("play", A, AUDIO)  # refused at first; botocore retries with backoff until the server is back
    assert store.get("play", A) == AUDIO


def test_an_answer_cut_midway_is_read_again(s3):
    settings = s3_settings(s3)
    S3Store(settings).put("play", A, AUDIO)
    proxy = CuttingProxy(s3.port)
    try:
        store = S3Store(replace(settings, endpoint_url=proxy.url))
        proxy.cut_next(after_bytes=len(AUDIO) // 2)  # headers through, then half the audio, then gone
        assert store.get("play", A) == AUDIO
        assert proxy.cuts == 1
    finally:
        proxy.close()


# -- the library, on the local store and on S3 ----------------------------------------------------


def test_library_adds_moves_and_repairs(any_stocked):
    lib, db, store = any_stocked.library, any_stocked.db, any_stocked.store
    clip = lib.add(tone(7), 22050, "unverified", ClipInfo(source="test", intended_emotion="sad"))
    name = db.get_clip(clip)["audio_name"]
    assert store.exists("unverified", name)
    assert lib.move(clip, "unverified", "learning", label="sad", label_source="consensus")
    assert (store.exists("learning", name), store.exists("unverified", name)) == (True, False)
    # A move the process died in after the copy, and audio no row names: repair finishes and sweeps.
    other = any_stocked.clip_ids["play"][0]
    other_name = db.get_clip(other)["audio_name"]
    db.set_pool(other, "play", "learning", time.time())
    store.copy("play", "learning", other_name)
    store.put("play", A, AUDIO)
    report = lib.repair()
    assert (report["moves_finished"], report["orphans_removed"]) == (1, 1)
    assert audio_everywhere(any_stocked)["learning"] >= {name, other_name}
    assert_library_whole(any_stocked)


def assert_library_whole(services, before: dict[int, str] | None = None) -> None:
    """Every clip has its audio exactly once, in its pool, with its sha256; nothing else is stored."""
    rows = services.db.clips()
    if before is not None:
        assert {r["id"]: r["sha256"] for r in rows} == before
    names = audio_everywhere(services)
    for row in rows:
        assert row["pool"] == row["store_pool"]
        assert [p for p, n in names.items() if row["audio_name"] in n] == [row["pool"]]
        data = services.store.get(row["pool"], row["audio_name"])
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
    assert sum(len(n) for n in names.values()) == len(rows)


# -- outages in the middle of a move --------------------------------------------------------------


@pytest.mark.parametrize("step", ["before the copy", "after the copy", "after the check, before the delete"])
def test_an_outage_in_the_middle_of_a_move_loses_nothing(stocked_s3, s3, step):
    before = {r["id"]: r["sha256"] for r in stocked_s3.db.clips()}
    clip = stocked_s3.clip_ids["play"][0]
    if step == "before the copy":
        s3.stop()
    else:
        stop_after(stocked_s3.store, "CopyObject" if step == "after the copy" else "GetObject", s3)
    with pytest.raises(StoreUnavailable):
        stocked_s3.library.move(clip, "play", "learning")
    assert not s3.running
    s3.start()  # the outage ends; moto kept the buckets
    row = stocked_s3.db.get_clip(clip)
    assert row["pool"] == "learning"  # the move is recorded...
    for r in stocked_s3.db.clips():  # ...and every row's audio is where its row says, before any repair
        assert stocked_s3.store.exists(r["store_pool"], r["audio_name"])
    stocked_s3.library.repair()  # what the next start does
    assert_library_whole(stocked_s3, before)
    assert stocked_s3.db.get_clip(clip)["store_pool"] == "learning"


def test_an_outage_while_adding_leaves_no_row(stocked_s3, s3):
    count = len(stocked_s3.db.clips())
    s3.stop()
    with pytest.raises(StoreUnavailable):
        stocked_s3.library.add(tone(9), 22050, "play", ClipInfo(source="test", label="sad"))
    s3.start()
    assert len(stocked_s3.db.clips()) == count
    stocked_s3.library.repair()
    assert_library_whole(stocked_s3)


MOVER = textwrap.dedent(
    """
    import random
    from dataclasses import replace
    from insideout.settings import settings_from_env
    from insideout.services import build_services
    services = build_services(replace(settings_from_env(), secret_key="k" * 40))
    clips = [c["id"] for c in services.db.clips()]
    print("ready", flush=True)
    while True:
        clip = random.choice(clips)
        row = services.db.get_clip(clip)
        to = random.choice([p for p in ("play", "learning", "unverified") if p != row["pool"]])
        services.library.move(clip, row["pool"], to)
    """
)


def test_a_kill_at_any_instant_of_s3_moves_loses_no_clip(stocked_s3, tmp_path):
    """SIGKILL a process moving clips between S3 pools, at random instants; the next start repairs."""
    script = tmp_path / "mover.py"
    script.write_text(MOVER)
    before = {c["id"]: c["sha256"] for c in stocked_s3.db.clips()}
    pools = {c["id"]: c["pool"] for c in stocked_s3.db.clips()}
    env = s3_env(stocked_s3.settings.s3, "s3", stocked_s3.settings.data_dir)
    rng = np.random.default_rng(1)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.1, 0.5)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for row in stocked_s3.db.clips():  # before repair: every row's audio is where the row says
            assert stocked_s3.store.exists(row["store_pool"], row["audio_name"])
        stocked_s3.library.repair()
        assert_library_whole(stocked_s3, before)
    assert {c["id"]: c["pool"] for c in stocked_s3.db.clips()} != pools  # the movers did move clips


# -- migration: local -> S3 -> local ---------------------------------------------------------------


def s3_env(settings, storage: str, data_dir: Path) -> dict[str, str]:
    loc = settings.locations[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDEOUT_")}
    env.update({"INSIDEOUT_DATA_DIR": str(data_dir), "INSIDEOUT_STORAGE": storage,
                "INSIDEOUT_S3_BUCKET": loc.bucket, "INSIDEOUT_S3_PREFIX": "lib",
                "INSIDEOUT_S3_ENDPOINT_URL": settings.endpoint_url, "INSIDEOUT_S3_REGION": "us-east-1",
                "INSIDEOUT_S3_ADDRESSING_STYLE": "path", "INSIDEOUT_S3_CHECKSUM_MODE": "when_required",
                "INSIDEOUT_S3_MAX_ATTEMPTS": "2", "PYTHONPATH": str(ROOT)})
    return env


def run_migration(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "insideout", "migrate", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=120)


def test_migrate_store_copies_local_to_s3_and_back(tmp_path, s3):
    data = tmp_path / "data"
    local = build_services(make_settings(data))
    stock(local, play=6, unverified=2)
    before = {r["id"]: r["sha256"] for r in local.db.clips()}
    settings = s3_settings(s3)  # its bucket, with prefixes lib/<pool>/ as INSIDEOUT_S3_PREFIX=lib makes

    to_s3 = run_migration(s3_env(settings, "s3", data))
    assert to_s3.returncode == 0, to_s3.stderr
    assert "8 clips: 8 copied" in to_s3.stdout and "0 failed" in to_s3.stdout
    again = run_migration(s3_env(settings, "s3", data))
    assert again.returncode == 0 and "0 copied (0.0 MB), 8 already there and verified" in again.stdout

    on_s3 = build_services(make_settings(data, storage="s3", s3=settings))
    assert on_s3.library.repair() == {"moves_finished": 0, "orphans_removed": 0, "partial_removed": 0}
    assert_library_whole(on_s3, before)

    for path in (data / "audio").rglob("*.wav"):
        path.unlink()  # the local copies are gone; S3 has the library
    back = run_migration(s3_env(settings, "local", data))
    assert back.returncode == 0, back.stderr
    assert "8 clips: 8 copied" in back.stdout
    assert_library_whole(build_services(make_settings(data)), before)


def test_migrate_store_without_s3_settings_says_what_to_set(tmp_path):
    build_services(make_settings(tmp_path / "data"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDEOUT_")}
    result = run_migration({**env, "INSIDEOUT_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "INSIDEOUT_S3_BUCKET" in result.stderr


def test_an_outage_in_the_middle_of_a_migration_loses_nothing(tmp_path, s3):
    local = build_services(make_settings(tmp_path / "data"))
    stock(local, play=10, unverified=2)
    before = {r["id"]: r["sha256"] for r in local.db.clips()}
    target = S3Store(s3_settings(s3))
    stop_after(target, "PutObject", s3, calls=4)
    first = migrate_audio(local.db, local.store, target, "local", "s3", workers=2)
    assert first.interrupted and "did not answer" in first.interrupted
    assert 2 <= first.copied < 12 and not first.complete  # each worker verified its clip before its next put
    assert "run the same command again" in first.summary()

    s3.start()
    second = migrate_audio(local.db, local.store, target, "local", "s3", workers=2)
    assert second.complete, second.summary()
    assert second.already_there >= first.copied and second.copied + second.already_there == 12
    on_s3 = build_services(make_settings(tmp_path / "data", storage="s3", s3=target.settings))
    assert_library_whole(on_s3, before)
    assert all(local.store.exists(r["pool"], r["audio_name"]) for r in local.db.clips())  # source untouched


# -- the whole app on S3 ----------------------------------------------------------------------------


def test_the_app_serves_a_full_challenge_cycle_from_s3(stocked_s3):
    with LiveServer(stocked_s3) as live, live.client() as http:
        c = http.post("/api/v1/challenges", json={})
        assert c.status_code == 201, c.text
        c = c.json()
        for clip in c["clips"]:
            r = http.get(clip["audio_url"])
            assert r.status_code == 200 and r.headers["content-type"] == "audio/wav" and len(r.content) > 1000
            for loc in stocked_s3.settings.s3.locations:  # nothing of the storage reaches the client
                assert loc.bucket not in clip["audio_url"] and loc.bucket.encode() not in r.content
        r = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer",
                      json={"answers": answers(stocked_s3, c["challenge_id"], True)})
        assert r.status_code == 200 and r.json()["status"] == "passed"
        verdict = http.post("/api/v1/siteverify", json={"secret": stocked_s3.sites.builtin_secret(),
                                                        "response": r.json()["token"]}).json()
        assert verdict["success"] is True and verdict["error_codes"] == []


# -- settings ------------------------------------------------------------------------------------


def test_s3_settings_one_bucket_with_a_prefix_per_pool():
    s = settings_from_env({"INSIDEOUT_STORAGE": "s3", "INSIDEOUT_S3_BUCKET": "voices", "INSIDEOUT_S3_PREFIX": "io"})
    assert s.storage == "s3"
    assert [(loc.pool, loc.bucket, loc.prefix) for loc in s.s3.locations] == [
        ("play", "voices", "io/play/"), ("unverified", "voices", "io/unverified/"),
        ("learning", "voices", "io/learning/")]
    assert (s.s3.endpoint_url, s.s3.addressing_style, s.s3.checksum_mode) == (None, "auto", "when_supported")


def test_s3_settings_a_bucket_per_pool_and_hugging_face_defaults():
    s = settings_from_env({"INSIDEOUT_STORAGE": "s3", "INSIDEOUT_S3_BUCKET_PLAY": "io-play",
                           "INSIDEOUT_S3_BUCKET_UNVERIFIED": "io-unverified",
                           "INSIDEOUT_S3_BUCKET_LEARNING": "io-learn", "INSIDEOUT_S3_ENDPOINT_URL": "https://s3.hf.co/me/"})
    assert [(loc.bucket, loc.prefix) for loc in s.s3.locations] == [
        ("io-play", ""), ("io-unverified", ""), ("io-learn", "")]
    assert (s.s3.endpoint_url, s.s3.region, s.s3.addressing_style, s.s3.checksum_mode) == (
        "https://s3.hf.co/me", "us-east-1", "path", "when_required")


@pytest.mark.parametrize(
    "env,words",
    [
        ({"INSIDEOUT_STORAGE": "s3"}, "needs INSIDEOUT_S3_BUCKET"),
        ({"INSIDEOUT_STORAGE": "s3", "INSIDEOUT_S3_BUCKET_PLAY": "io-play"}, "INSIDEOUT_S3_BUCKET_UNVERIFIED"),
        ({"INSIDEOUT_STORAGE": "s3", "INSIDEOUT_S3_BUCKET": "me/voices"}, "s3.hf.co/<namespace>"),
        ({"INSIDEOUT_S3_BUCKETS": "voices"}, "unknown setting"),
        ({"INSIDEOUT_S3_BUCKET": "voices", "INSIDEOUT_S3_ADDRESSING_STYLE": "sideways"}, "path, virtual, auto"),
        ({"INSIDEOUT_S3_BUCKET": "voices", "INSIDEOUT_S3_CHECKSUM_MODE": "never"}, "when_required"),
        ({"INSIDEOUT_S3_BUCKET": "voices", "INSIDEOUT_S3_PREFIX_PLAY": "x", "INSIDEOUT_S3_PREFIX_LEARNING": "x/"},
         "two pools share"),
        ({"INSIDEOUT_S3_BUCKET": "voices", "INSIDEOUT_S3_PREFIX": "../up"}, "INSIDEOUT_S3_PREFIX"),
        ({"INSIDEOUT_S3_BUCKET": "voices", "INSIDEOUT_S3_ENDPOINT_URL": "s3.hf.co"}, "expected a URL"),
        ({"INSIDEOUT_S3_BUCKET": "voices", "INSIDEOUT_S3_MAX_ATTEMPTS": "0"}, "INSIDEOUT_S3_MAX_ATTEMPTS"),
        ({"INSIDEOUT_STORAGE": "floppy"}, "local"),
    ],
)
def test_bad_s3_settings_get_a_clear_message(env, words):
    with pytest.raises(SettingsError, match=words):
        settings_from_env(env)


def test_an_s3_outage_while_serving_audio_is_a_503_and_loses_nothing(tmp_path, s3):
    services = s3_services(tmp_path, s3, max_attempts=1)
    services.clip_ids = stock(services, play=8, unverified=2)
    with LiveServer(services) as live, live.client() as http:
        c = http.post("/api/v1/challenges", json={}).json()
        s3.stop()
        try:
            r = http.get(c["clips"][0]["audio_url"])
        finally:
            s3.start()
        assert r.status_code == 503 and r.json()["error"] == "storage_unavailable"
        assert "retry-after" in r.headers and "Traceback" not in r.text
        assert http.get(c["clips"][0]["audio_url"]).status_code == 200  # back once S3 is
