"""The starter library, built offline from the shipped sentences and the pip-installed voices."""

import io
import os
import subprocess
import sys
from collections import Counter
from dataclasses import replace

import pytest
import soundfile as sf

from insideout.corpus import starter
from insideout.corpus.synth import available_voices
from insideout.emotions import EMOTION_IDS
from insideout.sentences import load_sentences
from insideout.services import build_services
from tests.conftest import make_settings

SMALL = starter.StarterConfig(clips_per_emotion=5, unverified_share=0.2, seed=7, workers=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    services = build_services(make_settings(tmp_path_factory.mktemp("starter") / "data"))
    report = starter.build(services.library, SMALL, progress=False)
    return services, report


def test_the_plan_speaks_each_sentence_in_every_emotion():
    plan = starter.plan(SMALL, load_sentences(), ("a", "b", "c"))
    by_sentence = {}
    for clip in plan:
        by_sentence.setdefault(clip.sentence, set()).add(clip.emotion)
    assert all(emotions == set(EMOTION_IDS) for emotions in by_sentence.values())


def test_the_plan_gives_every_emotion_every_voice_equally():
    plan = starter.plan(replace(SMALL, clips_per_emotion=6), load_sentences(), ("a", "b", "c"))
    for emotion in EMOTION_IDS:
        assert Counter(c.voice for c in plan if c.emotion == emotion) == {"a": 2, "b": 2, "c": 2}


def test_the_plan_is_deterministic_for_a_seed():
    sentences = load_sentences()
    assert starter.plan(SMALL, sentences, ("a",)) == starter.plan(SMALL, sentences, ("a",))
    assert starter.plan(SMALL, sentences, ("a",)) != starter.plan(replace(SMALL, seed=8), sentences, ("a",))


def test_the_default_is_at_least_24_play_clips_per_emotion():
    config = starter.StarterConfig()
    plan = starter.plan(config, load_sentences(), ("a", "b", "c"))
    for emotion in EMOTION_IDS:
        assert sum(c.pool == "play" and c.emotion == emotion for c in plan) >= 24


def test_the_build_has_every_emotion_and_voice(built):
    services, report = built
    rows = services.db.clips()
    assert report.made == len(rows) == 5 * 8 and report.failed == []
    assert {r["intended_emotion"] for r in rows} == set(EMOTION_IDS)
    assert {r["voice"] for r in rows} == set(available_voices())
    assert len(available_voices()) >= 3


def test_a_share_goes_to_unverified_without_a_trusted_label(built):
    services, _ = built
    counts = services.db.pool_counts()
    assert (counts["play"], counts["unverified"]) == (32, 8)
    assert all(r["label"] is None for r in services.db.clips(pool="unverified"))
    assert all(r["label"] == r["intended_emotion"] for r in services.db.clips(pool="play"))


def test_every_file_decodes(built):
    services, _ = built
    for row in services.db.clips():
        samples, sr = sf.read(io.BytesIO(services.store.get(row["pool"], row["audio_name"])))
        assert sr == 22050 and samples.ndim == 1 and 0.5 < len(samples) / sr < 8


def test_provenance_is_complete(built):
    services, _ = built
    for row in services.db.clips():
        p = row["provenance"]
        assert row["source"] == "starter" and row["text"] and row["voice"] and row["engine"]
        for key in ("engine", "voice", "preset", "preset_params", "text", "seed", "starter_key"):
            assert key in p, key
        assert p["preset"] == row["intended_emotion"]


def test_a_second_build_skips_what_is_there(built):
    services, _ = built
    again = starter.build(services.library, SMALL, progress=False)
    assert (again.made, again.skipped_existing) == (0, 40)


def test_the_same_seed_renders_the_same_audio(built, tmp_path):
    services, _ = built
    other = build_services(make_settings(tmp_path / "other"))
    one_voice = replace(SMALL, clips_per_emotion=1, unverified_share=0.0)
    starter.build(other.library, one_voice, progress=False)
    mine = {r["provenance"]["starter_key"]: r["sha256"] for r in services.db.clips()}
    for row in other.db.clips():
        assert mine[row["provenance"]["starter_key"]] == row["sha256"]


def test_first_start_needs_a_build_and_a_finished_one_does_not(tmp_path):
    services = build_services(make_settings(tmp_path / "data"))
    assert starter.needs_build(services.library, services.settings.data_dir)
    config = replace(SMALL, clips_per_emotion=1, unverified_share=0.0)
    report = starter.build(services.library, config, progress=False)
    assert starter.needs_build(services.library, services.settings.data_dir)  # no marker yet: resume
    starter.mark_built(services.settings.data_dir, config, report)
    assert not starter.needs_build(services.library, services.settings.data_dir)


def test_build_corpus_prints_its_speed(tmp_path):
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "insideout", "build-corpus", "--clips-per-emotion", "1",
         "--unverified-share", "0", "--voices", "espeak-f", "--workers", "1"],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "made 8 clips" in result.stdout and "clips/s" in result.stdout


def test_build_corpus_refuses_an_unknown_voice(tmp_path):
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "insideout", "build-corpus", "--voices", "hal"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "unknown voice" in result.stderr


def test_corpus_report_prints_every_emotion_and_writes_a_plot(built, tmp_path, monkeypatch, capsys):
    from insideout.cli import main

    services, _ = built
    monkeypatch.setenv("INSIDEOUT_DATA_DIR", str(services.settings.data_dir))
    assert main(["report", "--plot", str(tmp_path / "report.png")]) == 0
    out = capsys.readouterr().out
    for emotion_id in EMOTION_IDS:
        assert emotion_id in out
    assert "median_f0_hz" in out and "f0_range_st" in out and "energy_db" in out
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_report_shows_the_documented_directions(built):
    from insideout.corpus.report import measure_library, per_emotion

    services, _ = built
    table = per_emotion(measure_library(services.library, pools=("play",)))
    assert table["sad"]["energy_db"] < table["neutral"]["energy_db"]
    assert table["angry"]["energy_db"] > table["calm"]["energy_db"]
    assert table["surprised"]["f0_vs_neutral_st"] > 0 > table["sad"]["f0_vs_neutral_st"]
