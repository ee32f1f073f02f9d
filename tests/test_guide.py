"""The prosody guide (insideout/tts/guide.py): an emotion's intonation drawn into a mel and its tempo given by
stretching it, on mels of signals the tests make and of a teacher clip rendered here, heard through the real
HiFi-GAN V1 vocoder."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from insideout.corpus import acoustics
from insideout.corpus.synth import render_clip
from insideout.tts import guide as pitch
from insideout.tts import prosody
from insideout.tts import tacotron2 as t2
from insideout.tts.hifigan import shared_vocoder
from insideout.tts.mel import MEL, mel_spectrogram
from insideout.tts.synthesize import Synthesizer
from tests import tts_fixtures

TEXT = "She put the blue folder on the kitchen table."


@pytest.fixture(scope="module")
def vocoder():
    return shared_vocoder("universal")


@pytest.fixture(scope="module")
def flat_mel() -> np.ndarray:
    """A teacher clip's mel with its harmonics smoothed away across the bins, as the acoustic model speaks."""
    wave, _ = render_clip(TEXT, "neutral", "piper-joe", 3)
    mel = mel_spectrogram(wave)[0].numpy()
    return uniform_filter1d(mel, 5, axis=0, mode="nearest")


def heard_f0(vocoder, mel: np.ndarray) -> np.ndarray:
    wave = vocoder.many([mel])[0]
    track = acoustics.f0_track_hz(wave, MEL.sample_rate)
    return track[track > 0]


def test_the_vocoder_speaks_at_the_register_the_guide_draws(vocoder, flat_mel):
    assert prosody.mel_ripple_db(flat_mel) < 1.5  # no harmonics left for the vocoder to follow
    for register in (110.0, 200.0):
        f0, weight = pitch.f0_track(flat_mel, "neutral", register, np.random.default_rng(0))
        guided = pitch.imprint(flat_mel, f0, weight)
        intended = np.median(f0[weight > 0.5])
        assert abs(12 * np.log2(np.median(heard_f0(vocoder, guided)) / intended)) < 1.0  # semitones
        assert 2.0 < prosody.mel_ripple_db(guided) < 5.0  # near the teacher clips' 3.4-3.7 dB (unvoiced frames: none)


def test_each_emotion_moves_the_guided_pitch_as_its_preset_does(vocoder, flat_mel):
    medians = {e: np.median(heard_f0(vocoder, pitch.guide_pitch(flat_mel, e, 140.0)))
               for e in ("neutral", "sad", "happy")}
    assert medians["sad"] < medians["neutral"] < medians["happy"]
    assert 12 * np.log2(medians["happy"] / medians["sad"]) > 3.0  # the presets: +3 and -2 semitones
    # surprise's final rise (7 semitones over the last 0.4 s of voicing), against neutral's end
    ends = {}
    for e in ("neutral", "surprised"):
        f0, weight = pitch.f0_track(flat_mel, e, 140.0, np.random.default_rng(0))
        voiced = np.flatnonzero(weight > 0.5)
        ends[e] = 12 * np.log2(f0[voiced[-1]] / np.median(f0[voiced]))
    assert ends["surprised"] - ends["neutral"] > 4.0


def test_voicing_is_high_on_a_tone_and_low_on_hiss_and_silence():
    rate = MEL.sample_rate
    t = np.arange(rate) / rate
    tone = 0.1 * sum(np.sin(2 * np.pi * k * 150.0 * t) / k for k in range(1, 8))
    hiss = np.random.default_rng(0).normal(0, 0.02, rate)
    hiss = hiss - uniform_filter1d(hiss, 8)  # high-passed: a fricative's energy sits above 2 kHz
    wave = np.concatenate([tone, hiss, np.zeros(rate // 2)]).astype(np.float32)
    weight = pitch.voicing(mel_spectrogram(wave)[0].numpy())
    frames = len(weight)
    third = int(rate / MEL.hop_length)
    assert np.mean(weight[5:third - 5]) > 0.9
    assert np.mean(weight[third + 5:2 * third - 5]) < 0.1
    assert np.max(weight[frames - third // 3:]) == 0.0
    assert pitch.voicing(np.zeros((80, 0))).shape == (0,)  # no frames: nothing voiced, no error


def test_the_neutral_contour_declines_across_the_utterance_and_rises_and_falls_on_each_run():
    voiced = np.zeros(100, dtype=bool)
    voiced[10:40] = voiced[60:90] = True
    contour = pitch.neutral_contour(voiced)
    assert contour[10] > contour[89]  # declination
    assert contour[25] > contour[11] and contour[25] > contour[39]  # a hat over the first run
    assert contour[25] - contour[75] == pytest.approx(-pitch.DECLINATION_ST * 50 / 79, abs=0.2)
    assert not pitch.neutral_contour(np.zeros(10, dtype=bool)).any()


def test_imprinting_leaves_its_input_alone_and_refuses_wrong_shapes(flat_mel):
    before = flat_mel.copy()
    guided = pitch.guide_pitch(flat_mel, "angry", 120.0, seed=1)
    assert np.array_equal(flat_mel, before) and guided.shape == flat_mel.shape and guided.dtype == np.float32
    assert np.array_equal(guided, pitch.guide_pitch(flat_mel, "angry", 120.0, seed=1))  # the seed fixes the jitter
    with pytest.raises(ValueError, match="log mel"):
        pitch.guide_pitch(np.zeros((40, 10)), "angry", 120.0)
    with pytest.raises(ValueError, match="one F0 and one weight per mel frame"):
        pitch.imprint(flat_mel, np.full(3, 100.0), np.ones(3))
    with pytest.raises(ValueError, match="positive frequency"):
        pitch.guide_pitch(flat_mel, "angry", 0.0)


def test_no_comb_moves_a_bin_further_than_the_cap_and_the_combs_up_to_300_hz_are_left_as_they_were():
    table, table_f0 = pitch._comb_table()
    peaks = np.abs(table).max(axis=1)
    assert peaks.max() <= pitch.COMB_PEAK_LOG + 1e-9  # up to 800 Hz: uncapped, 500 Hz combs reached 4000 (35,000 dB)
    assert np.all(peaks[table_f0 <= 300.0] < pitch.COMB_PEAK_LOG)  # where generation's pitch lives, no comb is capped
    high = pitch.guide_pitch(np.full((80, 50), -4.0, dtype=np.float32), "surprised", 420.0, seed=3)
    assert np.isfinite(high).all() and np.abs(high + 4.0).max() <= pitch.COMB_PEAK_LOG + 1e-5


def test_the_registers_are_the_starter_voices_neutral_pitch():
    from insideout.corpus.synth import available_voices

    assert set(pitch.REGISTERS_HZ) >= set(available_voices())
    for voice in available_voices():
        wave, _ = render_clip(TEXT, "neutral", voice, 7)
        measured = prosody.measure(wave, MEL.sample_rate).f0_hz
        assert abs(12 * np.log2(measured / pitch.register_for(voice))) < 2.0, voice
    assert pitch.register_for("") == pitch.register_for("a voice it does not know") == pitch.BLEND_REGISTER_HZ


def test_the_tempo_guide_gives_each_emotion_its_presets_rate_against_the_neutral_rendering():
    from insideout.corpus.presets import preset_for

    assert pitch.tempo_factor(100, 100, "sad") == pytest.approx(1 / preset_for("sad").rate)  # slower: longer
    assert pitch.tempo_factor(100, 100, "fearful") == pytest.approx(1 / preset_for("fearful").rate)
    assert pitch.tempo_factor(100, 100, "neutral") == 1.0
    assert pitch.tempo_factor(200, 100, "happy") == pitch.TEMPO_LIMITS[0]  # never squeezed past the limit
    assert pitch.tempo_factor(100, 100, "happy") < 1.0 < pitch.tempo_factor(80, 100, "happy")
    with pytest.raises(ValueError, match="at least one frame"):
        pitch.tempo_factor(0, 100, "happy")


def test_stretching_a_mel_keeps_its_ends_and_spaces_what_lies_between():
    mel = np.tile(np.arange(10, dtype=np.float32), (80, 1))  # each frame holds its index
    longer = pitch.stretch(mel, 1.5)
    assert longer.shape == (80, 15) and longer[0, 0] == 0.0 and longer[0, -1] == 9.0
    assert np.all(np.diff(longer[0]) > 0)  # still in order: interpolated, not shuffled
    assert pitch.stretch(mel, 0.5).shape == (80, 5)
    assert np.array_equal(pitch.stretch(mel, 1.0), mel)
    with pytest.raises(ValueError, match="positive"):
        pitch.stretch(mel, 0.0)


def test_only_the_known_guides_are_accepted():
    assert [g for g in pitch.GUIDES if pitch.guides_pitch(g)] == ["pitch", "pitch+tempo"]
    assert [g for g in pitch.GUIDES if pitch.guides_tempo(g)] == ["tempo", "pitch+tempo"]
    with pytest.raises(ValueError, match="unknown prosody guide 'loud'"):
        pitch.check_guide("loud")


def test_a_synthesizer_with_the_guide_keeps_the_models_own_mel_and_says_which_guide_it_gave(tmp_path, vocoder):
    model = t2.load(tts_fixtures.write_insideout(tmp_path / "tiny.pt", stops=False, max_step=60))  # 60 frames
    synthesizer = Synthesizer(model, vocoder, guide="pitch")
    guided = synthesizer.synthesize([TEXT], ["happy"])[0]
    plain = synthesizer.synthesize([TEXT], ["happy"], guide="off")[0]
    assert (guided.guide, plain.guide) == ("pitch", "off")
    assert guided.mel.shape == (MEL.n_mels, guided.frames)
    assert not np.allclose(guided.wave, plain.wave)
    # the tempo guide: sad is stretched to the preset's rate against the model's neutral rendering, so its
    # heard frames differ from the model's own; the wave is as long as the frames heard
    slow = synthesizer.synthesize([TEXT], ["sad"], guide="pitch+tempo")[0]
    assert slow.guide == "pitch+tempo" and slow.frames != slow.mel.shape[1]
    assert len(slow.wave) == slow.frames * MEL.hop_length
    with pytest.raises(ValueError, match="unknown prosody guide"):
        Synthesizer(model, vocoder, guide="on")


def test_a_model_without_speakers_is_guided_about_the_register_of_the_voice_it_is_given(tmp_path, vocoder):
    model = t2.load(tts_fixtures.write_insideout(tmp_path / "tiny.pt", stops=False, max_step=60))
    synthesizer = Synthesizer(model, vocoder, guide="pitch")
    assert synthesizer.voices == ()
    low, high, blend = synthesizer.synthesize([TEXT] * 3, ["happy"] * 3, registers=["espeak-m", "espeak-f", ""])
    assert (low.register, high.register, blend.register) == ("espeak-m", "espeak-f", "")
    assert low.speaker == high.speaker == ""  # the timbre stays the blend's
    assert not np.allclose(low.wave, high.wave) and not np.allclose(high.wave, blend.wave)
    assert synthesizer.synthesize([TEXT], ["happy"])[0].register == ""  # no speaker, no voice named: the blend's
    with pytest.raises(ValueError, match="no register is known for nobody"):
        synthesizer.synthesize([TEXT], ["happy"], registers=["nobody"])
    with pytest.raises(ValueError, match="one register voice per text"):
        synthesizer.synthesize([TEXT], ["happy"], registers=["espeak-m", "espeak-f"])
