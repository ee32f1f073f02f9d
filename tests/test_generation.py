"""Which checkpoint generates: one rule (explicit > the admin's active version > INSIDEOUT_TTS_CHECKPOINT >
the shipped default), the same for the app, retraining, the command line and the evaluation."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from insideout.generation import SHIPPED_CHECKPOINT, GenerationRequest, checkpoint_for
from insideout.services import build_services
from insideout.tts import refiner
from insideout.tts.postfilter import BETA
from tests import tts_fixtures
from tests.conftest import make_settings, stock


def test_an_explicit_checkpoint_wins_over_everything():
    assert checkpoint_for("given.pt", "active.pt", "setting.pt") == "given.pt"


def test_the_active_version_wins_over_the_setting():
    assert checkpoint_for(None, "active.pt", "setting.pt") == "active.pt"


def test_the_setting_wins_over_the_shipped_model():
    assert checkpoint_for(None, None, "setting.pt") == "setting.pt"


def test_the_shipped_model_generates_when_nothing_is_chosen():
    assert checkpoint_for(None, None, "") == str(SHIPPED_CHECKPOINT)
    assert SHIPPED_CHECKPOINT.is_file()


def activate(services, path) -> int:
    """Record a trained, evaluated version at path and make it the one that generates."""
    model_id = services.db.create_model(None, [], None, time.time())
    services.db.update_model(model_id, state="evaluated", path=str(path), version="v-test")
    services.retraining.set_active(model_id)
    return model_id


@pytest.fixture
def chosen(tmp_path):
    """Services whose setting names one model and whose admin chose another version."""
    setting = tts_fixtures.write_insideout(tmp_path / "setting.pt", seed=1)
    services = build_services(make_settings(tmp_path / "data", tts_checkpoint=str(setting)))
    stock(services, play=8, unverified=0)
    services.active_model = tts_fixtures.write_insideout(tmp_path / "active.pt", seed=2)
    activate(services, services.active_model)
    return services


def test_the_services_follow_the_rule(chosen, tmp_path):
    assert chosen.checkpoint() == str(chosen.active_model)
    assert chosen.checkpoint(str(tmp_path / "given.pt")) == str(tmp_path / "given.pt")
    assert chosen.retraining.base_checkpoint() == str(chosen.active_model)
    chosen.retraining.set_active(None)
    assert chosen.checkpoint() == chosen.settings.tts_checkpoint == chosen.retraining.base_checkpoint()


def test_a_chosen_version_whose_file_is_gone_gives_way_to_the_setting(chosen):
    chosen.active_model.unlink()
    assert chosen.checkpoint() == chosen.settings.tts_checkpoint


def test_an_explicit_checkpoint_generates_even_while_a_version_is_active(chosen, tmp_path):
    from insideout.tts.tacotron2 import load

    given = tts_fixtures.write_insideout(tmp_path / "given.pt", seed=3)
    report = chosen.generation.run(GenerationRequest(2, ("sad",)), checkpoint=str(given))
    versions = {chosen.db.get_clip(i)["model_version"] for i in report.clip_ids}
    assert versions == {load(str(given)).version} != {load(str(chosen.active_model)).version}


def test_without_a_choice_the_active_version_generates(chosen):
    from insideout.tts.tacotron2 import load

    report = chosen.generation.run(GenerationRequest(2, ("calm",)))
    assert {chosen.db.get_clip(i)["model_version"] for i in report.clip_ids} == {load(str(chosen.active_model)).version}


def test_the_emotion_strength_setting_speaks_every_clip_and_each_clip_records_it(tmp_path):
    services = build_services(make_settings(tmp_path / "data", emotion_strength=1.6,
                                            tts_checkpoint=str(tts_fixtures.write_insideout(tmp_path / "m.pt"))))
    assert services.generation.synthesizer().strength == 1.6
    report = services.generation.run(GenerationRequest(2, ("angry", "calm")))
    assert [services.db.get_clip(i)["provenance"]["emotion_strength"] for i in report.clip_ids] == [1.6, 1.6]


def test_the_prosody_guide_setting_speaks_every_clip_and_each_clip_records_it(tmp_path):
    services = build_services(make_settings(tmp_path / "data", prosody_guide="pitch+tempo",
                                            tts_checkpoint=str(tts_fixtures.write_insideout(tmp_path / "m.pt"))))
    assert services.generation.synthesizer().guide == "pitch+tempo"
    report = services.generation.run(GenerationRequest(2, ("angry", "calm")))
    assert [services.db.get_clip(i)["provenance"]["prosody_guide"] for i in report.clip_ids] == ["pitch+tempo"] * 2
    # and the mel postfilter every generated clip was sharpened with (tts/postfilter.py)
    assert [services.db.get_clip(i)["provenance"]["mel_postfilter"] for i in report.clip_ids] == [BETA] * 2
    # and the version of the mel refiner their pitch-guided mels went through (the shipped one by default)
    shipped = refiner.load(refiner.SHIPPED).version
    assert [services.db.get_clip(i)["provenance"]["mel_refiner"] for i in report.clip_ids] == [shipped] * 2


def test_with_the_refiner_off_or_no_pitch_guide_clips_record_that_no_refiner_spoke_them(tmp_path):
    checkpoint = str(tts_fixtures.write_insideout(tmp_path / "m.pt"))
    for data, settings in (("off", {"mel_refiner": "off"}), ("tempo", {"prosody_guide": "tempo"})):
        services = build_services(make_settings(tmp_path / data, tts_checkpoint=checkpoint, **settings))
        report = services.generation.run(GenerationRequest(1, ("sad",)))
        assert services.db.get_clip(report.clip_ids[0])["provenance"]["mel_refiner"] is None


def test_a_model_without_speakers_takes_the_starter_voices_registers_in_turn_and_each_clip_records_its_own(tmp_path):
    services = build_services(make_settings(tmp_path / "data", prosody_guide="pitch",
                                            tts_checkpoint=str(tts_fixtures.write_insideout(tmp_path / "m.pt"))))
    report = services.generation.run(GenerationRequest(6, ("angry", "calm")))
    provenance = [services.db.get_clip(i)["provenance"] for i in report.clip_ids]
    assert [p["pitch_register"] for p in provenance] == \
        ["piper-joe", "piper-joe-high", "espeak-m", "espeak-f", "espeak-gb-m", "piper-joe"]
    assert {p["speaker"] for p in provenance} == {"blend"}
    blend = services.generation.run(GenerationRequest(1, ("angry",), voice="blend"))
    assert services.db.get_clip(blend.clip_ids[0])["provenance"]["pitch_register"] == "blend"


def test_a_clip_spoken_without_the_pitch_guide_names_no_register(tmp_path):
    services = build_services(make_settings(tmp_path / "data", prosody_guide="tempo",
                                            tts_checkpoint=str(tts_fixtures.write_insideout(tmp_path / "m.pt"))))
    report = services.generation.run(GenerationRequest(1, ("angry",)))
    assert "pitch_register" not in services.db.get_clip(report.clip_ids[0])["provenance"]


def test_the_registers_follow_the_speakers_of_a_model_that_has_them():
    from insideout.generation import registers_for

    assert registers_for("rotate", ("espeak-f", "crowd-7"), 3) == ["espeak-f", "", "espeak-f"]
    assert registers_for("espeak-f", ("espeak-f",), 2) == ["espeak-f", "espeak-f"]
    assert registers_for("blend", (), 2) == ["", ""]


def test_a_queued_generation_keeps_the_checkpoint_chosen_when_it_was_asked_for(chosen):
    job_id = chosen.generation.start(GenerationRequest(2, ("happy",)))
    job = chosen.jobs.wait(job_id, timeout=120)
    assert job["state"] == "done" and job["params"]["checkpoint"] == str(chosen.active_model)


def test_a_bad_request_is_refused_before_any_model_loads(chosen):
    from insideout.generation import GenerationError

    with pytest.raises(GenerationError):
        chosen.generation.run(replace(GenerationRequest(1), count=0), checkpoint="/nowhere.pt")


def test_the_generate_command_uses_its_checkpoint_while_a_version_is_active(chosen, tmp_path):
    import os
    import subprocess
    import sys

    from insideout.tts.tacotron2 import load

    given = tts_fixtures.write_insideout(tmp_path / "given.pt", seed=4)
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(chosen.settings.data_dir),
           "INSIDEOUT_SECRET_KEY": chosen.settings.secret_key}
    result = subprocess.run([sys.executable, "-m", "insideout", "generate", "--count", "2", "--emotions", "angry",
                             "--checkpoint", str(given)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    made = [row for row in chosen.db.clips("unverified") if row["source"] == "tts"]
    assert len(made) == 2 and {row["model_version"] for row in made} == {load(str(given)).version}
