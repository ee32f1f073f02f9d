"""The defences against a bot that learnt the public recipe: the deployment's own presets (variation.py),
each clip's speaker-like shift, each serving's transforms (wav.py), and the cue check that says whether
the emotions keep their cues (botlab/cues.py). Real renders with the offline voices."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from insideout import wav
from insideout.botlab import cues
from insideout.captcha import serving_of
from insideout.corpus.acoustics import energy_db, speech_duration_s
from insideout.corpus.presets import PRESETS, preset_for
from insideout.corpus.synth import available_voices, render_clip
from insideout.corpus.variation import CUE_FIELDS, QUALITY_FIELDS, Variation
from insideout.emotions import EMOTION_IDS
from insideout.restock import MAX_TRIES, Restocker, variation_of
from insideout.services import build_services
from insideout.settings import SettingsError, settings_from_env
from tests.conftest import SECRET

SENTENCE = "The parcel arrived on a quiet afternoon."


def test_a_deployments_presets_are_fixed_by_its_secret_and_differ_from_anothers():
    a = Variation.for_deployment(SECRET, 0.2, 0, 0)
    again = Variation.for_deployment(SECRET, 0.2, 0, 0)
    other = Variation.for_deployment(SECRET + "x", 0.2, 0, 0)
    assert a.preset("happy") == again.preset("happy")
    assert a.preset("happy") != other.preset("happy")
    assert a.key != SECRET.encode()  # a key of its own, derived


def test_each_deviation_is_scaled_within_its_bound_and_neutral_stays_neutral():
    variation = Variation.for_deployment(SECRET, 0.2, 0, 0)
    assert variation.preset("neutral") == preset_for("neutral")
    for emotion_id in EMOTION_IDS:
        for field in CUE_FIELDS:
            assert 0.8 <= variation.factor(emotion_id, field) <= 1.2
        for field in QUALITY_FIELDS:
            assert 0.8 <= variation.factor(emotion_id, field) <= 1.2
    sad, public = variation.preset("sad"), PRESETS["sad"]
    k = variation.factor("sad", "rate")
    assert math.log(sad.rate) == pytest.approx(math.log(public.rate) * k)  # a factor's deviation is its log
    assert sad.pitch_st == pytest.approx(public.pitch_st * variation.factor("sad", "pitch_st"))
    assert sad.tremolo_hz == public.tremolo_hz  # a rate of wobble, not a departure: left alone


def test_without_a_variation_the_public_recipe_is_rendered_exactly():
    voice = available_voices()[0]
    public, provenance = render_clip(SENTENCE, "happy", voice, 5)
    none, _ = render_clip(SENTENCE, "happy", voice, 5, Variation())
    assert np.array_equal(public, none)
    assert "variation" not in provenance


def test_a_varied_clip_differs_and_its_provenance_names_the_strengths_not_the_key():
    voice = available_voices()[0]
    variation = Variation.for_deployment(SECRET, 0.3, 2.0, 0.1)
    public, _ = render_clip(SENTENCE, "sad", voice, 5)
    varied, provenance = render_clip(SENTENCE, "sad", voice, 5, variation)
    again, _ = render_clip(SENTENCE, "sad", voice, 5, variation)
    assert not (public.size == varied.size and np.allclose(public, varied))
    assert np.array_equal(varied, again)  # still reproducible for its seed
    recorded = provenance["variation"]
    assert recorded["spread"] == 0.3 and recorded["pitch_st"] == 2.0 and recorded["tempo"] == 0.1
    pitch, formants, tempo = recorded["voice_shift"]
    assert abs(pitch) <= 2.0 and 0.9 < tempo < 1.1 and formants == pytest.approx(2 ** (pitch / 36))
    assert SECRET not in json.dumps(provenance) and variation.key.hex() not in json.dumps(provenance)


def test_each_clip_gets_its_own_speaker_shift_within_the_settings_bounds():
    variation = Variation.for_deployment(SECRET, 0, 3.0, 0.08)
    shifts = [variation.voice_shift(np.random.default_rng(i)) for i in range(200)]
    pitches = np.array([s[0] for s in shifts])
    tempos = np.array([s[2] for s in shifts])
    assert np.all(np.abs(pitches) <= 3.0) and np.all(np.abs(tempos - 1) <= 0.08)
    assert pitches.std() > 1.0 and abs(pitches.mean()) < 0.5  # spread out, centred: means hold


def test_settings_name_the_recipe_and_the_serving(monkeypatch):
    monkeypatch.setenv("INSIDEOUT_PRESET_VARIATION", "0.15")
    monkeypatch.setenv("INSIDEOUT_CLIP_PITCH_ST", "1.5")
    monkeypatch.setenv("INSIDEOUT_SERVE_NOISE_SNR_DB", "25")
    monkeypatch.setenv("INSIDEOUT_SERVE_CROP_S", "0.1")
    settings = replace(settings_from_env(), secret_key=SECRET)
    variation = variation_of(settings)
    assert (variation.spread, variation.pitch_st, variation.tempo) == (0.15, 1.5, 0.0)
    assert serving_of(settings) == wav.Serving(gain_db=1.0, noise_snr_db=25.0, crop_s=0.1)
    monkeypatch.setenv("INSIDEOUT_PRESET_VARIATION", "0.9")
    with pytest.raises(SettingsError, match="INSIDEOUT_PRESET_VARIATION"):
        settings_from_env()


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    wave, _ = render_clip(SENTENCE, "neutral", available_voices()[0], 1)
    return wav.to_storage(wave, wav.SAMPLE_RATE)


def test_no_two_servings_are_alike_in_their_bytes(speech):
    rng = np.random.default_rng(0)
    a, b = (wav.encode(wav.vary_for_serving(speech, rng)) for _ in range(2))
    assert a != b


def test_serving_noise_lies_at_its_snr_below_the_speech(speech):
    rng = np.random.default_rng(1)
    served = wav.vary_for_serving(speech, rng, wav.Serving(gain_db=0.0, noise_snr_db=20.0))
    x = served.astype(np.float64) / 32767
    quiet = x[: int(0.03 * wav.SAMPLE_RATE)]  # the lead silence is noise alone now
    speech_level = energy_db(speech.astype(np.float64) / 32767, wav.SAMPLE_RATE)
    noise_level = 10 * np.log10(np.mean(quiet**2))
    assert speech_level - noise_level == pytest.approx(20.0, abs=2.5)


def test_a_crop_cuts_the_start_of_the_speech_and_never_its_end(speech):
    rng = np.random.default_rng(2)
    plain = wav.vary_for_serving(speech, np.random.default_rng(2), wav.Serving(gain_db=0.0))
    cropped = wav.vary_for_serving(speech, rng, wav.Serving(gain_db=0.0, crop_s=0.4))
    sr = wav.SAMPLE_RATE
    full = speech_duration_s(plain.astype(np.float64), sr)
    short = speech_duration_s(cropped.astype(np.float64), sr)
    assert 0 < full - short <= 0.45
    tail = speech[-int(0.5 * sr):].astype(np.float64)  # the last half second of speech is all there
    corr = np.correlate(cropped.astype(np.float64), tail, mode="valid").max()
    assert corr >= 0.97 * np.dot(tail, tail)


def test_a_cue_difference_is_taken_against_the_neutral_clip():
    clip = {"f0_level_st": 50.0, "f0_range_st": 6.0, "rate": 4.4, "energy_db": -20.0}
    neutral = {"f0_level_st": 47.0, "f0_range_st": 4.0, "rate": 4.0, "energy_db": -26.0}
    assert cues.difference(clip, neutral) == pytest.approx(
        {"f0_level_st": 3.0, "f0_range_st": 2.0, "rate": 0.1, "energy_db": 6.0})


def test_a_cue_is_kept_within_twenty_percent_and_a_small_departure_is_no_cue():
    clean = {"happy": [{"f0_level_st": 3.0, "f0_range_st": 0.2, "rate": 0.08, "energy_db": 2.0}] * 2}
    defended = {"happy": [{"f0_level_st": 2.6, "f0_range_st": 2.0, "rate": -0.02, "energy_db": 2.0},
                          {"f0_level_st": 2.6, "f0_range_st": 2.0, "rate": 0.10, "energy_db": 2.0}]}
    rows = {r.cue: r for r in cues.shifts(clean, defended)}
    assert rows["f0_level_st"].kept is True and rows["f0_level_st"].relative_change == pytest.approx(0.4 / 3)
    assert rows["f0_range_st"].kept is None  # 0.2 st is no cue to keep
    assert rows["rate"].kept is False and rows["rate"].flipped_defended == 0.5
    summary = cues.summary(list(rows.values()))
    assert summary["cues"] == 3 and summary["kept"] == 2


def test_the_cue_check_finds_nothing_changed_when_nothing_is_defended():
    def render(sentence, emotion, voice, seed):
        return render_clip(sentence, emotion, voice, seed)[0]

    rows = cues.measure_shifts([SENTENCE], available_voices()[:1], 0, render, render)
    assert len(rows) == 7 * len(cues.CUES)
    assert all(r.relative_change in (None, 0.0) for r in rows)
    assert any(r.is_cue for r in rows)


def test_the_cues_command_prints_the_table_and_writes_its_rows(tmp_path):
    out = tmp_path / "cues.json"
    done = subprocess.run([sys.executable, "-m", "insideout", "bots", "cues", "--per-emotion", "1",
                           "--set", "INSIDEOUT_PRESET_VARIATION=0.1", "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "| emotion | cue |" in done.stdout and "cues kept within 20%" in done.stdout
    data = json.loads(out.read_text())
    assert data["variation"]["spread"] == 0.1 and len(data["rows"]) == 28


def test_the_restock_drops_candidates_its_accept_refuses_and_counts_them(services):
    seen: list[str] = []

    def accept(wave, sr, emotion):
        seen.append(emotion)
        return len(seen) % 2 == 0  # every other candidate

    restock = Restocker(services.library, target=2, accept=accept,
                        transform=lambda wave, sr, emotion: wave * 0.5)
    assert restock.fill() == 2
    stats = restock.stats()
    assert stats.rendered == 2 and stats.rejected == 2 and stats.acceptance == 0.5
    assert len(services.db.clips("play")) == 2


def test_an_accept_that_refuses_everything_stops_the_step_with_a_clear_error(services):
    calls = []

    def render(text, emotion, voice, seed):
        calls.append(seed)
        return np.sin(np.arange(22050) / 10).astype(np.float32) * 0.3, {"sample_rate": 22050}

    restock = Restocker(services.library, target=1, render=render, voices=("v",),
                        accept=lambda wave, sr, emotion: False)
    with pytest.raises(RuntimeError, match="not accepted"):
        restock.step()
    assert len(calls) == MAX_TRIES and services.db.clips("play") == []


def test_the_restock_gets_the_machine_hard_filter_and_the_perturber_only_when_their_settings_ask(services):
    assert services.restock.accept is None and services.restock.transform is None
    assert services.restock.variation == variation_of(services.settings)
    on = build_services(replace(services.settings, machine_hard=0.5, adversarial_snr_db=30.0,
                                preset_variation=0.1))
    assert on.restock.accept is not None and on.restock.accept.share == 0.5
    assert callable(on.restock.transform)
    assert on.restock.variation.spread == 0.1
