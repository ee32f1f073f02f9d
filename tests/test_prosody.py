"""Prosody of generated clips against the teacher's (insideout/tts/prosody.py), on voiced signals the tests make:
a harmonic tone whose pitch, level and syllable-like pulsing are known."""

import numpy as np
import pytest

from insideout.emotions import EMOTION_IDS
from insideout.tts import prosody

RATE = 22050


def voiced(f0_hz, seconds: float = 2.0, amplitude: float = 0.1, syllables_hz: float = 4.0) -> np.ndarray:
    """Ten harmonics on an F0 track (a number, or a function of time), pulsed at syllables_hz like syllables."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = f0_hz(t) if callable(f0_hz) else np.full_like(t, f0_hz)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 11))
    pulse = 0.2 + 0.8 * (0.5 - 0.5 * np.cos(2 * np.pi * syllables_hz * t))
    return (amplitude * pulse * wave / np.max(np.abs(wave))).astype(np.float32)


def test_a_clip_that_rises_at_its_end_measures_the_rise_in_semitones():
    flat = prosody.measure(voiced(150.0), RATE)
    rising = prosody.measure(voiced(lambda t: np.where(t < 1.6, 150.0, 150.0 * 2 ** (4 / 12))), RATE)
    assert flat.f0_hz == pytest.approx(150.0, rel=0.03)
    assert abs(flat.final_st) < 0.5
    assert rising.final_st == pytest.approx(4.0, abs=0.6)


def test_each_clip_is_measured_against_the_neutral_clips_of_its_own_voice():
    clips = []
    for voice, base in (("low", 100.0), ("high", 200.0)):
        clips.append(("neutral", voice, prosody.measure(voiced(base), RATE)))
        clips.append(("happy", voice, prosody.measure(voiced(base * 2 ** (3 / 12), amplitude=0.2, syllables_hz=5.0),
                                                      RATE)))
    clips.append(("sad", "nobody's", clips[0][2]))  # a voice with no neutral clip has nothing to be measured from
    rows = prosody.relative(clips)
    happy = [values for emotion_id, values in rows if emotion_id == "happy"]
    for values in happy:  # both voices: three semitones up, twice as loud, a quarter faster
        assert values["f0_st"] == pytest.approx(3.0, abs=0.3)
        assert values["energy_db"] == pytest.approx(6.0, abs=0.5)
        assert values["tempo_pct"] > 10
    assert all(np.isnan(v) for v in rows[-1][1].values())
    table = prosody.per_emotion(rows)
    assert list(table) == ["neutral", "happy", "sad"]
    assert table["neutral"]["f0_st"] == 0.0 and table["sad"]["f0_st"] is None


def test_a_silent_neutral_clip_leaves_its_voices_measures_unknown_not_an_error():
    silent = prosody.measure(np.zeros(RATE, dtype=np.float32), RATE)
    assert np.isnan(silent.f0_hz) and silent.syllable_rate_hz == 0.0
    rows = prosody.relative([("neutral", "v", silent), ("sad", "v", prosody.measure(voiced(120.0), RATE))])
    assert np.isnan(rows[1][1]["f0_st"]) and not np.isfinite(rows[1][1]["tempo_pct"])
    assert prosody.per_emotion(rows)["sad"]["tempo_pct"] is None


def table_of(f0_by_emotion: dict[str, float]) -> dict[str, dict[str, float | None]]:
    return {e: {m: (f0_by_emotion[e] if m == "f0_st" else 0.0) for m in prosody.MEASURES} for e in f0_by_emotion}


def test_the_share_reproduced_is_one_for_the_teachers_own_contrast_half_for_half_and_zero_for_none():
    teacher = table_of({e: float(k) for k, e in enumerate(EMOTION_IDS)})  # neutral 0, calm 1, ... surprised 7
    assert prosody.reproduced_share(teacher, teacher)["f0_st"] == 1.0
    assert prosody.reproduced_share(table_of({e: k / 2 for k, e in enumerate(EMOTION_IDS)}), teacher)["f0_st"] == 0.5
    assert prosody.reproduced_share(table_of(dict.fromkeys(EMOTION_IDS, 0.0)), teacher)["f0_st"] == 0.0
    backwards = prosody.reproduced_share(table_of({e: -float(k) for k, e in enumerate(EMOTION_IDS)}), teacher)
    assert backwards["f0_st"] == -1.0
    # where the teacher moves nothing (every other measure here) there is no contrast to reproduce
    assert prosody.reproduced_share(teacher, teacher)["energy_db"] is None


def test_the_comparison_pairs_generated_and_teacher_values_prints_as_a_table_and_plots(tmp_path):
    neutral, sad = prosody.measure(voiced(120.0), RATE), prosody.measure(voiced(120.0 * 2 ** (-2 / 12), 0.05), RATE)
    teacher = [("neutral", "v", neutral), ("sad", "v", sad)]
    generated = [("neutral", "blend", neutral), ("sad", "blend", neutral)]  # speaks sad as neutral
    report = prosody.compare(generated, teacher)
    assert report["by_emotion"]["sad"]["f0_st"]["teacher"] == pytest.approx(-2.0, abs=0.3)
    assert report["by_emotion"]["sad"]["f0_st"]["generated"] == 0.0
    assert report["reproduced"]["f0_st"] == 0.0 and report["reproduced"]["energy_db"] == 0.0
    text = prosody.format_table(report)
    assert text.splitlines()[-1].startswith("reproduced") and "sad" in text and "+0.0 / -2.0" in text
    prosody.plot(report, tmp_path / "p.png", "a title")
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_the_take_nearest_its_emotions_register_is_kept():
    # neutral takes set the reference (their median, 100 Hz); happy's preset raises F0 by 3 semitones (119 Hz),
    # sad's lowers it by 2 (89 Hz); a take with no F0 is never chosen while another has one
    takes = [[100.0, 200.0], [95.0, 105.0], [200.0, 121.0], [float("nan"), 90.0], [float("nan"), float("nan")]]
    chosen, reference = prosody.choose_takes(takes, ["neutral", "neutral", "happy", "sad", "sad"])
    assert reference == pytest.approx(102.5)  # median of 100, 200, 95, 105
    assert chosen == [0, 1, 1, 1, 0]
    with pytest.raises(ValueError):
        prosody.choose_takes(takes, ["neutral"])


def test_a_voices_harmonics_show_as_ripple_in_the_low_mel_bins_and_a_blur_of_registers_does_not():
    from insideout.tts.mel import mel_spectrogram

    one_voice = mel_spectrogram(voiced(150.0))[0].numpy()
    # five registers at once, as a decoder that averages its voices would speak: the harmonics fill the gaps
    blend = mel_spectrogram(sum(voiced(f) for f in (100.0, 123.0, 150.0, 181.0, 220.0)) / 5)[0].numpy()
    noise = mel_spectrogram(np.random.default_rng(0).normal(0, 0.05, RATE).astype(np.float32))[0].numpy()
    assert prosody.mel_ripple_db(one_voice) > 2 * prosody.mel_ripple_db(blend)
    assert prosody.mel_ripple_db(one_voice) > 2 * prosody.mel_ripple_db(noise)
    assert np.isnan(prosody.mel_ripple_db(np.full((80, 10), -11.5)[:, :0]))  # no frames, no speech
    with pytest.raises(ValueError, match="log mel"):
        prosody.mel_ripple_db(np.zeros((40, 10)))
