"""`insideout import`, the manifest importer of the design's contract, run as a user would."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from insideout.services import build_services
from insideout.settings import Settings
from tests.conftest import tone, wav_bytes


def run_import(data_dir: Path, manifest: Path, pool: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "insideout", "import", "--manifest", str(manifest), "--pool", pool],
        env=env, capture_output=True, text=True, timeout=120,
    )


def library_of(data_dir: Path):
    return build_services(Settings(data_dir=data_dir, secret_key="k" * 40))


def test_a_manifest_imports_its_clips_with_labels(tmp_path):
    (tmp_path / "a.wav").write_bytes(wav_bytes(tone(1)))
    (tmp_path / "b.wav").write_bytes(wav_bytes(tone(2, sr=16000), sr=16000))
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,emotion\na.wav,sad\nb.wav,Angry\n")
    result = run_import(tmp_path / "data", manifest, "play")
    assert result.returncode == 0, result.stderr
    assert "imported 2 clips, skipped 0" in result.stdout
    rows = library_of(tmp_path / "data").db.clips()
    assert sorted(r["label"] for r in rows) == ["angry", "sad"]
    assert {r["pool"] for r in rows} == {"play"}


def test_unverified_imports_keep_the_emotion_as_intended_only(tmp_path):
    (tmp_path / "a.wav").write_bytes(wav_bytes(tone(1)))
    (tmp_path / "b.wav").write_bytes(wav_bytes(tone(2)))
    manifest = tmp_path / "clips.csv"
    manifest.write_text("path,emotion\na.wav,happy\nb.wav,\n")
    assert run_import(tmp_path / "data", manifest, "unverified").returncode == 0
    rows = library_of(tmp_path / "data").db.clips()
    assert [(r["label"], r["intended_emotion"]) for r in rows] == [(None, "happy"), (None, None)]


def test_bad_rows_are_skipped_with_reasons_and_the_rest_imported(tmp_path):
    (tmp_path / "good.wav").write_bytes(wav_bytes(tone(1)))
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00junk")
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "silent.wav").write_bytes(wav_bytes(np.zeros(22050, np.float32)))
    manifest = tmp_path / "clips.csv"
    manifest.write_text(
        "path,emotion\ngood.wav,calm\ncorrupt.wav,calm\nempty.wav,calm\nsilent.wav,calm\n"
        "missing.wav,calm\ngood.wav,bored\ngood.wav,\n"
    )
    result = run_import(tmp_path / "data", manifest, "play")
    assert "imported 1 clips, skipped 6" in result.stdout
    for words in ["cannot decode", "empty audio", "silent", "no such file", "unknown emotion",
                  "needs an emotion"]:
        assert words in result.stdout
    services = library_of(tmp_path / "data")
    assert len(services.db.clips()) == 1
    assert len(list(services.store.names("play"))) == 1  # nothing half-written


def test_a_manifest_without_the_columns_is_refused(tmp_path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text("file,label\na.wav,sad\n")
    result = run_import(tmp_path / "data", manifest, "play")
    assert result.returncode == 2 and "path,emotion" in result.stderr


def test_a_missing_manifest_is_refused(tmp_path):
    result = run_import(tmp_path / "data", tmp_path / "nope.csv", "play")
    assert result.returncode == 2 and "no such file" in result.stderr
