"""The RAVDESS importer, on small WAVs the tests write under RAVDESS names."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from insideout.corpus.importers import import_ravdess, parse_ravdess_name
from insideout.library import ClipError
from tests.conftest import tone, wav_bytes


def write(folder: Path, name: str, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def test_names_give_emotion_actor_and_statement():
    attrs = parse_ravdess_name("03-01-05-02-01-01-12.wav")
    assert attrs == {"emotion": "angry", "intensity": "strong", "statement": "01",
                     "repetition": "01", "actor": "12"}


@pytest.mark.parametrize("name,why", [
    ("hello.wav", "not a RAVDESS"),
    ("01-01-05-02-01-01-12.wav", "video"),
    ("03-02-05-02-01-01-12.wav", "song"),
    ("03-01-09-01-01-01-12.wav", "unknown RAVDESS emotion"),
])
def test_bad_names_are_refused_with_a_reason(name, why):
    with pytest.raises((ClipError, ValueError), match=why):
        parse_ravdess_name(name)


def test_a_folder_imports_trusted_labels_to_play(services, tmp_path):
    folder = tmp_path / "ravdess" / "Actor_01"
    write(folder, "03-01-04-01-01-01-01.wav", wav_bytes(tone(1, sr=48000), sr=48000))
    write(folder, "03-01-08-02-02-01-01.wav", wav_bytes(tone(2, sr=48000), sr=48000))
    report = import_ravdess(services.library, tmp_path / "ravdess")
    assert len(report.imported) == 2 and report.skipped == []
    rows = services.db.clips()
    assert sorted((r["label"], r["pool"], r["voice"]) for r in rows) == [
        ("sad", "play", "ravdess-actor-01"), ("surprised", "play", "ravdess-actor-01")]
    assert {r["text"] for r in rows} == {"Kids are talking by the door.", "Dogs are sitting by the door."}
    assert all(r["duration_s"] == pytest.approx(0.4, abs=0.01) for r in rows)  # resampled, same length


def test_unverified_on_request_keeps_the_label_as_intended_only(services, tmp_path):
    write(tmp_path, "03-01-03-01-01-01-02.wav", wav_bytes(tone(1)))
    import_ravdess(services.library, tmp_path, pool="unverified")
    row = services.db.clips()[0]
    assert (row["pool"], row["label"], row["intended_emotion"]) == ("unverified", None, "happy")


def test_bad_files_are_skipped_with_a_report_and_the_rest_imported(services, tmp_path):
    write(tmp_path, "03-01-01-01-01-01-03.wav", wav_bytes(tone(1)))  # good
    write(tmp_path, "03-01-02-01-01-01-03.wav", np.stack([tone(2, sr=48000)] * 2, 1).tobytes())  # raw, corrupt
    write(tmp_path, "03-01-03-01-01-01-03.wav", b"")  # empty
    write(tmp_path, "03-01-09-01-01-01-03.wav", wav_bytes(tone(3)))  # unknown emotion
    write(tmp_path, "notes.wav", wav_bytes(tone(4)))  # wrong name
    write(tmp_path, "03-01-04-01-01-01-03.wav", wav_bytes(np.zeros(61 * 8000, np.float32) + 0.1, sr=8000))  # 61 s
    report = import_ravdess(services.library, tmp_path)
    reasons = dict(report.skipped)
    assert len(report.imported) == 1 and len(report.skipped) == 5
    assert "cannot decode" in reasons["03-01-02-01-01-01-03.wav"]
    assert "empty" in reasons["03-01-03-01-01-01-03.wav"]
    assert "unknown RAVDESS emotion" in reasons["03-01-09-01-01-01-03.wav"]
    assert "not a RAVDESS" in reasons["notes.wav"]
    assert "limit is 60 s" in reasons["03-01-04-01-01-01-03.wav"]
    assert len(services.db.clips()) == 1
    assert sum(len(list(services.store.names(p))) for p in ("play", "unverified", "learning")) == 1


def test_stereo_48k_is_converted_to_mono_22050(services, tmp_path):
    stereo = np.stack([tone(1, sr=48000), tone(2, sr=48000)], axis=1)
    write(tmp_path, "03-01-05-01-01-01-04.wav", wav_bytes(stereo, sr=48000))
    import_ravdess(services.library, tmp_path)
    assert services.library.pcm(services.db.clips()[0]["id"]).shape == (int(0.4 * 22050),)


def test_the_command_imports_a_folder(tmp_path):
    write(tmp_path / "r", "03-01-06-01-01-01-05.wav", wav_bytes(tone(1)))
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "insideout", "import-ravdess", str(tmp_path / "r")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "imported 1 clips, skipped 0" in result.stdout


def test_a_missing_folder_is_a_clear_error(tmp_path):
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "insideout", "import-ravdess", str(tmp_path / "x")],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no such folder" in result.stderr
