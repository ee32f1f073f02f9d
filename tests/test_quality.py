"""DNSMOS quality estimates (insideout/tts/quality.py) on synthetic voiced clips the tests write and read back.

Each clip is 2.5 s or 0.6 s, which tiles to one 9.01 s window: the models run six windows in all."""

from dataclasses import astuple

import numpy as np
import pytest
import soundfile as sf

from insideout.tts.quality import MOS, QualityError, dnsmos, mean_mos

RATE = 22050
SAME_CLIP_TOLERANCE = 0.05  # measured 0.007 between our resampling and soxr's of the same clip
REFERENCE_TOLERANCE = 1e-3  # measured < 1e-4: the same models on the same features


def voiced(seconds: float = 2.5, rate: int = RATE) -> np.ndarray:
    """A vowel-like clip: 33 harmonics of a falling, wavering pitch, in four syllables with pauses between."""
    t = np.arange(int(seconds * rate)) / rate
    # f0 = 180 - 12 t + 25 sin(2 pi 1.3 t) Hz, integrated exactly: the same signal at any rate
    phase = 2 * np.pi * (180 * t - 6 * t**2 + 25 * (1 - np.cos(2 * np.pi * 1.3 * t)) / (2 * np.pi * 1.3))
    harmonics = sum(np.sin(k * phase) / k**1.2 for k in range(1, 34))
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, None) ** 0.7
    return (0.125 * harmonics * envelope).astype(np.float32)


def through_wav(wave: np.ndarray, path) -> np.ndarray:
    sf.write(path, wave, RATE)
    back, rate = sf.read(path, dtype="float32")
    assert rate == RATE
    return back


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, np.ndarray]:
    folder = tmp_path_factory.mktemp("quality")
    clean = voiced()
    noise = 0.1 * np.random.default_rng(0).standard_normal(clean.size)
    noisy = np.clip(clean + noise, -1, 1).astype(np.float32)
    return {"clean": through_wav(clean, folder / "clean.wav"), "noisy": through_wav(noisy, folder / "noisy.wav")}


@pytest.fixture(scope="module")
def scores(clips) -> dict[str, MOS]:
    clean, noisy = dnsmos([clips["clean"], clips["noisy"]], RATE)
    return {"clean": clean, "noisy": noisy}


@pytest.fixture(scope="module")
def clean_16k(clips) -> np.ndarray:
    import librosa

    return librosa.resample(clips["clean"], orig_sr=RATE, target_sr=16000)  # soxr: not our resampler


def test_noise_lowers_the_overall_score(scores):
    assert scores["clean"].overall > scores["noisy"].overall + 0.3
    assert scores["clean"].background > scores["noisy"].background + 0.5  # the noise is heard as background


def test_every_score_lies_on_the_mos_scale(scores):
    for mos in scores.values():
        assert all(1.0 <= value <= 5.0 for value in astuple(mos)), mos


def test_a_clip_scores_the_same_at_22050_and_at_16000_hz(scores, clean_16k):
    (at_16k,) = dnsmos([clean_16k], 16000)
    assert np.allclose(astuple(at_16k), astuple(scores["clean"]), atol=SAME_CLIP_TOLERANCE), (at_16k, scores["clean"])


def test_scores_match_microsofts_reference_implementation(clean_16k):
    from importlib.resources import files

    from speechmos.dnsmos import DNSMOS

    folder = files("speechmos") / "dnsmos_models"
    reference = DNSMOS(str(folder / "sig_bak_ovr.onnx"), str(folder / "model_v8.onnx"))(clean_16k, 16000, False)
    (ours,) = dnsmos([clean_16k], 16000)
    expected = (reference["ovrl_mos"], reference["sig_mos"], reference["bak_mos"], reference["p808_mos"])
    assert np.allclose(astuple(ours), expected, atol=REFERENCE_TOLERANCE), (ours, expected)


def test_a_half_second_clip_still_scores():
    (short,) = dnsmos([voiced(0.6)], RATE)  # tiled to 9.6 s, as the reference does
    assert all(1.0 <= value <= 5.0 for value in astuple(short)), short


def test_no_clips_give_no_scores():
    assert dnsmos([], RATE) == []


@pytest.mark.parametrize(("wave", "message"), [
    (np.zeros(0, np.float32), "clip 0 is empty"),
    (np.array([0.1, np.nan, 0.2], np.float32), "clip 0 holds NaN or infinite samples"),
    (np.array([0.1, np.inf], np.float32), "clip 0 holds NaN or infinite samples"),
    (np.zeros((2, 100), np.float32), "expected mono samples"),
])
def test_an_empty_or_broken_clip_is_refused_with_a_reason(wave, message):
    with pytest.raises(QualityError, match=message):
        dnsmos([wave], RATE)


def test_the_refused_clip_is_named_by_its_place_in_the_list():
    with pytest.raises(QualityError, match="clip 1 holds NaN"):
        dnsmos([voiced(0.6), np.full(100, np.nan, np.float32)], RATE)


def test_a_bad_sample_rate_is_refused():
    with pytest.raises(QualityError, match="sample rate"):
        dnsmos([voiced(0.6)], 0)


def test_quality_errors_are_value_errors():
    assert issubclass(QualityError, ValueError)


def test_mean_mos_rounds_each_mean_under_the_reported_keys():
    scores = [MOS(3.0, 3.5, 4.0, 3.2), MOS(2.0, 2.25, 3.0, 2.9001)]
    assert mean_mos(scores) == {"dnsmos": 2.5, "dnsmos_sig": 2.875, "dnsmos_bak": 3.5, "dnsmos_p808": 3.05}


def test_mean_mos_of_no_scores_is_refused():
    with pytest.raises(QualityError, match="no scores"):
        mean_mos([])
