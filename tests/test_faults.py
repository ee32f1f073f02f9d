"""SIGKILL at each kill point (insideout/faults.py) of a real process, then a restart: the invariants hold and
the interrupted work is finished, resumed by a rerun, or recorded as interrupted.

Each test runs the real thing in a subprocess (`insideout serve`, `insideout migrate|generate|train|import`, or
a job as the app runs it) with INSIDEOUT_FAULT_KILL_AT naming the point, checks it died by SIGKILL, then
restarts (a server start, or services.recover, which is what a start runs) and checks
insideout.invariants. Sizes are tiny: a handful of short clips, a tiny acoustic model, a few steps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from insideout import faults
from insideout.commands.bench_api import start_server
from insideout.emotions import EMOTION_IDS
from insideout.invariants import IN_TRANSIT, ORPHAN_AUDIO, TWO_POOLS, check
from insideout.library import ClipInfo
from insideout.services import Services, build_services, recover
from insideout.storage import S3Store
from tests import s3_fixtures, tts_fixtures
from tests.conftest import SECRET, make_settings, stock, tone, wav_bytes
from tests.helpers import answers
from tests.s3_fixtures import s3_settings

moto, aws_env, s3 = s3_fixtures.moto, s3_fixtures.aws_env, s3_fixtures.s3

ROOT = Path(__file__).resolve().parent.parent
KILLED = -signal.SIGKILL
TEXTS = ("The table stands by the window.", "Judy will wash the jug at noon.")


def env_for(data: Path, kill_at: str | None = None, **settings: object) -> dict[str, str]:
    """A child's environment: this data dir and secret, the given settings, and the kill point if any."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSIDEOUT_")}
    env.update({"INSIDEOUT_DATA_DIR": str(data), "INSIDEOUT_SECRET_KEY": SECRET, "PYTHONPATH": str(ROOT),
                "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"})
    env.update({f"INSIDEOUT_{k.upper()}": str(v) for k, v in settings.items()})
    if kill_at:
        env[faults.ENV] = kill_at
    return env


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "insideout", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=180)


def library(data: Path) -> Services:
    return build_services(make_settings(data))


def kinds(services: Services, **kwargs: object) -> set[str]:
    return {v.kind for v in check(services.db, services.store, **kwargs)}


# -- a consensus move, in the server ---------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["move.copied", "move.repointed"])
def test_a_server_killed_in_the_middle_of_a_consensus_move_finishes_it_at_the_next_start(tmp_path, point):
    data = tmp_path / "data"
    services = library(data)
    stock(services, play=16, unverified=1)
    clip = services.db.clips("unverified")[0]["id"]
    rules = {"consensus_min_votes": 1, "ambiguous_after_votes": 1, "serve_budget": 0, "fail_cooldown_s": 0,
             "votes_per_network": 0}
    proc, url = start_server(data, env_for(data, point, **rules))
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            challenge = http.post("/api/v1/challenges", json={}).json()["challenge_id"]
            with pytest.raises(httpx.TransportError):  # the vote reached consensus: the server died moving it
                http.post(f"/api/v1/challenges/{challenge}/answer",
                          json={"answers": answers(services, challenge, True, vote="sad")})
        assert proc.wait(30) == KILLED
    finally:
        proc.kill()
    row = services.db.get_clip(clip)
    assert row["pool"] == "learning"  # the decision was recorded before the audio moved
    # Before any repair the clip's audio is where its row says; the crash left at worst a second copy.
    assert kinds(services, settled=False) <= {TWO_POOLS}
    assert kinds(services) <= {IN_TRANSIT, TWO_POOLS}

    proc, _ = start_server(data, env_for(data, **rules))  # the start runs services.recover before serving
    proc.terminate()
    proc.wait(30)
    row = services.db.get_clip(clip)
    assert (row["pool"], row["store_pool"], row["label"]) == ("learning", "learning", "sad")  # move finished
    assert check(services.db, services.store) == []


# -- a migration local -> S3 -----------------------------------------------------------------------------------


def test_a_migration_killed_after_a_copy_is_resumed_by_the_rerun(tmp_path, s3):
    data = tmp_path / "data"
    services = library(data)
    stock(services, play=4, unverified=2)
    target = s3_settings(s3)
    loc = target.locations[0]
    env = env_for(data, storage="s3", s3_bucket=loc.bucket, s3_prefix="lib", s3_endpoint_url=target.endpoint_url,
                  s3_region="us-east-1", s3_addressing_style="path", s3_checksum_mode="when_required",
                  s3_max_attempts=2)
    killed = cli({**env, faults.ENV: "migrate.copied"}, "migrate", "--no-progress", "--workers", "1")
    assert killed.returncode == KILLED, killed.stderr
    store = S3Store(target)
    assert 1 <= sum(len(list(store.names(p))) for p in ("play", "unverified", "learning")) < 6

    rerun = cli(env, "migrate", "--no-progress")
    assert rerun.returncode == 0, rerun.stderr
    assert "already there and verified" in rerun.stdout and "0 failed" in rerun.stdout
    assert check(services.db, store) == []  # the S3 copy is whole: every row's audio, nothing else
    assert check(services.db, services.store) == []  # the source is untouched


# -- a generation ----------------------------------------------------------------------------------------------


def test_a_generation_killed_between_a_clips_audio_and_its_row_leaves_an_orphan_the_start_removes(tmp_path):
    data = tmp_path / "data"
    services = library(data)
    model = tts_fixtures.write_insideout(tmp_path / "tiny.pt")
    killed = cli(env_for(data, "add.audio_written"), "generate", "--count", "1", "--emotions", "sad",
                 "--checkpoint", str(model))
    assert killed.returncode == KILLED, killed.stderr
    assert services.db.clips() == [] and kinds(services) == {ORPHAN_AUDIO}
    (orphan,) = services.store.names("unverified")

    # A start within the grace period leaves it: it might be another writer's clip about to get its row.
    assert recover(services)["orphans_removed"] == 0
    assert check(services.db, services.store, grace_s=services.settings.repair_grace_s) == []
    hours_ago = time.time() - 2 * 3600
    os.utime(services.store.root / "unverified" / f"{orphan}.wav", (hours_ago, hours_ago))
    assert recover(services)["orphans_removed"] == 1  # past the grace period it is nobody's: removed
    assert check(services.db, services.store) == []


JOB = """
import sys
from insideout.generation import GenerationRequest
from insideout.services import build_services
from insideout.settings import load_settings
from insideout.tts.train import TrainConfig
from tests.tts_fixtures import TINY

services = build_services(load_settings())
if sys.argv[1] == "generate":
    job = services.generation.start(GenerationRequest(2, ("sad",), batch_size=1), checkpoint=sys.argv[2])
else:
    services.retraining.base_config = TrainConfig(model_overrides=dict(TINY, emotion_dim=4), batch_size=2,
                                                  steps=2, checkpoint_every=100, device="cpu")
    services.retraining.replay_play_pool = False
    services.retraining.evaluator = lambda *_: {"wer": 0.5}
    job = services.retraining.start().job_id
print(services.jobs.wait(job)["state"])
"""


def job(data: Path, kill_at: str | None, *args: str) -> subprocess.CompletedProcess:
    """A background job as the app runs it (JobRunner on its worker thread), in a process of its own."""
    return subprocess.run([sys.executable, "-c", JOB, *args], env=env_for(data, kill_at), cwd=ROOT,
                          capture_output=True, text=True, timeout=180)


def test_a_generation_job_killed_after_a_batch_is_marked_interrupted_and_keeps_its_whole_clips(tmp_path):
    data = tmp_path / "data"
    services = library(data)
    model = tts_fixtures.write_insideout(tmp_path / "tiny.pt")
    killed = job(data, "generate.batch", "generate", str(model))
    assert killed.returncode == KILLED, killed.stderr
    (row,) = services.db.jobs()
    assert row["state"] == "running"

    report = recover(services)
    assert report["jobs_interrupted"] == 1
    row = services.db.get_job(row["id"])
    assert row["state"] == "failed" and "interrupted" in row["error"]
    made = services.db.clips("unverified")
    assert len(made) == 1 and made[0]["source"] == "tts"  # the first batch's clip, whole, for the crowd
    assert check(services.db, services.store) == []


# -- training --------------------------------------------------------------------------------------------------


def test_a_training_job_killed_after_saving_its_model_is_failed_at_the_start_and_a_rerun_completes(tmp_path):
    data = tmp_path / "data"
    services = library(data)
    clips = [services.library.add(tone(500 + i, 0.3), 22050, "learning",
                                  ClipInfo(source="test", label=EMOTION_IDS[i], text=TEXTS[i])) for i in range(2)]
    killed = job(data, "retrain.saved", "train")
    assert killed.returncode == KILLED, killed.stderr
    (model,) = services.db.models()
    assert model["state"] == "training" and list((data / "models").glob("*.pt"))

    report = recover(services)
    assert (report["jobs_interrupted"], report["trainings_interrupted"]) == (1, 1)
    assert services.db.get_model(model["id"])["state"] == "failed"
    assert {services.db.get_clip(c)["pool"] for c in clips} == {"learning"}  # nothing consumed: kept for a rerun
    assert check(services.db, services.store) == []

    rerun = job(data, None, "train")
    assert rerun.returncode == 0 and rerun.stdout.strip() == "done", rerun.stderr
    states = [m["state"] for m in services.db.models()]
    assert sorted(states) == ["evaluated", "failed"]
    assert {services.db.get_clip(c)["pool"] for c in clips} == {"play"}  # consumed once, by the finished run
    assert check(services.db, services.store) == []


def test_training_killed_after_a_checkpoint_resumes_from_it(tmp_path):
    data = tmp_path / "data"
    services = library(data)
    stock(services, play=4, unverified=0)
    model = tts_fixtures.write_insideout(tmp_path / "tiny.pt")
    run_dir = tmp_path / "run"
    args = ("train", "--pool", "play", "--init-from", str(model), "--run-dir", str(run_dir), "--steps", "4",
            "--checkpoint-every", "2", "--batch-size", "2", "--device", "cpu")
    killed = cli(env_for(data, "train.checkpoint"), *args)
    assert killed.returncode == KILLED, killed.stderr
    assert (run_dir / "checkpoint.pt").is_file() and not (run_dir / "model.pt").exists()

    rerun = cli(env_for(data), *args)
    assert rerun.returncode == 0, rerun.stderr
    assert "step 3 / 4" in rerun.stdout and "step 1 / 4" not in rerun.stdout  # went on from step 2
    assert "after 4 steps" in rerun.stdout
    assert check(services.db, services.store) == []


# -- an import -------------------------------------------------------------------------------------------------


def test_an_import_killed_mid_manifest_keeps_whole_clips_and_its_rerun_imports_the_rest_once(tmp_path):
    data = tmp_path / "data"
    services = library(data)
    lines = ["path,emotion"]
    for i in range(4):
        (tmp_path / f"c{i}.wav").write_bytes(wav_bytes(tone(i)))
        lines.append(f"c{i}.wav,{EMOTION_IDS[i]}")
    manifest = tmp_path / "clips.csv"
    manifest.write_text("\n".join(lines) + "\n")
    killed = cli(env_for(data, "import.row"), "import", "--manifest", str(manifest), "--pool", "play")
    assert killed.returncode == KILLED, killed.stderr
    assert len(services.db.clips()) == 1  # the rows before the kill, each whole
    assert check(services.db, services.store) == []

    rerun = cli(env_for(data), "import", "--manifest", str(manifest), "--pool", "play")
    assert rerun.returncode == 0, rerun.stderr
    assert "imported 3 clips, skipped 0, 1 already in the library" in rerun.stdout
    rows = services.db.clips()
    assert sorted(r["label"] for r in rows) == sorted(EMOTION_IDS[:4])  # each file once
    assert check(services.db, services.store) == []


# -- the repair at start and its grace period (a store shared with another replica, or an import running) --------

any_stocked = s3_fixtures.any_stocked
ORPHAN = "ab" * 16


def test_the_start_leaves_young_audio_without_a_row_alone_and_removes_it_once_old(any_stocked):
    services, store = any_stocked, any_stocked.store
    grace = services.settings.repair_grace_s
    store.put("unverified", ORPHAN, wav_bytes(tone(3)))  # another writer's clip whose row is not written yet
    assert recover(services)["orphans_removed"] == 0 and store.exists("unverified", ORPHAN)
    assert check(services.db, store, grace_s=grace) == []
    later = time.time() + grace + 60  # S3's LastModified is the server's: age the clock rather than the object
    assert services.library.repair(grace, now=later)["orphans_removed"] == 1
    assert not store.exists("unverified", ORPHAN) and check(services.db, store) == []


def test_a_finished_moves_leftover_copy_is_removed_at_once_whatever_the_grace(any_stocked):
    services, store = any_stocked, any_stocked.store
    row = services.db.clips("play")[0]
    store.copy("play", "learning", row["audio_name"])  # the row says play: the learning copy is nobody's
    assert recover(services)["orphans_removed"] == 1
    assert not store.exists("learning", row["audio_name"]) and store.exists("play", row["audio_name"])
    assert check(services.db, store) == []


def test_local_listing_ages_are_file_times_and_only_old_leftovers_go(tmp_path):
    services = library(tmp_path / "data")
    store = services.store
    young, old = "cd" * 16, "ef" * 16
    for name in (young, old):
        store.put("play", name, wav_bytes(tone(4)))
    hours_ago = time.time() - 2 * 3600
    os.utime(store.root / "play" / f"{old}.wav", (hours_ago, hours_ago))
    ages = {name: time.time() - modified for name, modified in store.listing("play")}
    assert ages[young] < 60 and ages[old] > 3600
    partial = [store.root / "play" / f".{n}.x.tmp" for n in (young, old)]  # writes a crash cut, or in progress
    for path in partial:
        path.write_bytes(b"RIFF")
    os.utime(partial[1], (hours_ago, hours_ago))
    report = recover(services)
    assert (report["orphans_removed"], report["partial_removed"]) == (1, 1)
    assert [n for n, _ in store.listing("play")] == [young] and [p.exists() for p in partial] == [True, False]


def test_s3_listing_ages_are_the_objects_last_modified(s3):
    store = S3Store(s3_settings(s3))
    store.put("play", ORPHAN, b"x")
    ((name, modified),) = store.listing("play")
    assert name == ORPHAN and abs(time.time() - modified) < 60
