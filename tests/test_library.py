import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import soundfile as sf

from insideout.library import ClipError, ClipInfo
from insideout.storage import LocalStore, StoreError
from insideout.wav import BadAudio
from tests.conftest import tone, wav_bytes


def test_adding_a_clip_stores_mono_22050_16bit_audio(services):
    clip_id = services.library.add_file(
        wav_bytes(np.stack([tone(1, sr=48000)] * 2, axis=1), sr=48000),
        "play", ClipInfo(source="test", label="sad"))
    row = services.db.get_clip(clip_id)
    info = sf.info(io.BytesIO(services.store.get("play", row["audio_name"])))
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    assert row["duration_s"] == pytest.approx(0.4, abs=0.01)


def test_the_file_name_is_random_and_carries_nothing(services):
    ids = [services.library.add(tone(1), 22050, "play", ClipInfo(source="test", label="sad"))
           for _ in range(2)]
    names = [services.db.get_clip(i)["audio_name"] for i in ids]
    assert all(re.fullmatch(r"[0-9a-f]{32}", n) for n in names)
    assert names[0] != names[1]  # same audio, same label: nothing in common
    assert sorted(p.name for p in (services.store.root / "play").iterdir()) == sorted(
        f"{n}.wav" for n in names)


def test_provenance_is_recorded(services):
    info = ClipInfo(source="test", intended_emotion="happy", text="The table is by the door.",
                    voice="v1", engine="e1", model_version="m1", provenance={"seed": 3})
    row = services.db.get_clip(services.library.add(tone(1), 22050, "unverified", info))
    assert (row["source"], row["intended_emotion"], row["label"], row["text"], row["voice"],
            row["engine"], row["model_version"], row["provenance"]) == (
        "test", "happy", None, "The table is by the door.", "v1", "e1", "m1", {"seed": 3})


@pytest.mark.parametrize(
    "pool,info",
    [
        ("play", ClipInfo(source="test")),
        ("unverified", ClipInfo(source="test", label="sad")),
        ("attic", ClipInfo(source="test", label="sad")),
        ("play", ClipInfo(source="test", label="bored")),
        ("play", ClipInfo(source="nowhere", label="sad")),
    ],
)
def test_bad_clips_are_refused_and_nothing_is_written(services, pool, info):
    with pytest.raises((ClipError, ValueError)):
        services.library.add(tone(1), 22050, pool, info)
    assert services.db.clips() == []
    assert all(not list(services.store.names(p)) for p in ("play", "unverified", "learning"))


@pytest.mark.parametrize("data", [b"", b"not audio at all", wav_bytes(np.zeros(2205, np.float32))])
def test_bad_audio_is_refused(services, data):
    with pytest.raises(BadAudio):
        services.library.add_file(data, "play", ClipInfo(source="test", label="sad"))
    assert services.db.clips() == []


def test_moving_a_clip_moves_its_audio(stocked):
    clip = stocked.clip_ids["play"][0]
    assert stocked.library.move(clip, "play", "learning")
    row = stocked.db.get_clip(clip)
    assert (row["pool"], row["store_pool"]) == ("learning", "learning")
    assert stocked.store.exists("learning", row["audio_name"])
    assert not stocked.store.exists("play", row["audio_name"])


def test_a_move_from_the_wrong_pool_does_nothing(stocked):
    clip = stocked.clip_ids["play"][0]
    assert stocked.library.move(clip, "unverified", "learning") is False
    assert stocked.db.get_clip(clip)["pool"] == "play"


def test_repair_finishes_a_move_interrupted_after_the_copy(stocked):
    clip = stocked.clip_ids["play"][0]
    row = stocked.db.get_clip(clip)
    stocked.db.set_pool(clip, "play", "learning", time.time())
    stocked.store.copy("play", "learning", row["audio_name"])  # ...and then the process died
    report = stocked.library.repair()
    row = stocked.db.get_clip(clip)
    assert report["moves_finished"] == 1
    assert row["store_pool"] == "learning"
    assert not stocked.store.exists("play", row["audio_name"])


def test_repair_removes_the_copy_left_after_the_row_moved(stocked):
    clip = stocked.clip_ids["play"][0]
    row = stocked.db.get_clip(clip)
    stocked.db.set_pool(clip, "play", "learning", time.time())
    stocked.store.copy("play", "learning", row["audio_name"])
    stocked.db.set_store_pool(clip, "play", "learning")  # ...and died before deleting the old copy
    assert stocked.library.repair()["orphans_removed"] == 1
    assert not stocked.store.exists("play", row["audio_name"])
    assert stocked.store.exists("learning", row["audio_name"])


def test_repair_removes_audio_without_a_row(services):
    services.store.put("play", "ab" * 16, wav_bytes(tone(1)))
    assert services.library.repair()["orphans_removed"] == 1
    assert list(services.store.names("play")) == []


def test_store_refuses_path_tricks(tmp_path):
    store = LocalStore(tmp_path)
    for name in ["../../etc/passwd", "a" * 31, "A" * 32, "../" + "a" * 29]:
        with pytest.raises(StoreError):
            store.get("play", name)
    with pytest.raises(StoreError):
        store.get("../play", "a" * 32)


MOVER = textwrap.dedent(
    """
    import random, sys
    from insideout.settings import Settings
    from insideout.services import build_services
    services = build_services(Settings(data_dir=__import__("pathlib").Path(sys.argv[1]), secret_key="k" * 40))
    clips = [c["id"] for c in services.db.clips()]
    print("ready", flush=True)
    pools = ["play", "learning", "unverified"]
    while True:
        clip = random.choice(clips)
        row = services.db.get_clip(clip)
        to = random.choice([p for p in pools if p != row["pool"]])
        services.library.move(clip, row["pool"], to)
    """
)


def test_a_kill_at_any_instant_loses_no_clip(stocked, tmp_path):
    """SIGKILL a process that moves clips between pools, many times, at random instants."""
    script = tmp_path / "mover.py"
    script.write_text(MOVER)
    before = {c["id"]: c["sha256"] for c in stocked.db.clips()}
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    rng = np.random.default_rng(0)
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, str(script), str(stocked.settings.data_dir)],
                                stdout=subprocess.PIPE, env=env)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(float(rng.uniform(0.05, 0.4)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Before repair: every row's audio exists where the row says.
        for row in stocked.db.clips():
            assert stocked.store.exists(row["store_pool"], row["audio_name"])
        stocked.library.repair()
        rows = stocked.db.clips()
        assert {r["id"]: r["sha256"] for r in rows} == before
        names = {p: set(stocked.store.names(p)) for p in ("play", "unverified", "learning")}
        for row in rows:
            assert row["pool"] == row["store_pool"]
            assert [p for p, n in names.items() if row["audio_name"] in n] == [row["pool"]]
        assert sum(len(n) for n in names.values()) == len(rows)
