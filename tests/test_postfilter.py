"""The mel postfilter (insideout/tts/postfilter.py): the spectral envelope's detail raised and each frame's level
and tilt kept, on the mel of a teacher clip rendered here; and a synthesizer that sharpens what it speaks with
it and says so, heard through the real HiFi-GAN V1 vocoder."""

import numpy as np
import pytest
import torch
from scipy.fft import dct

from insideout.corpus.synth import render_clip
from insideout.tts import postfilter
from insideout.tts import tacotron2 as t2
from insideout.tts.hifigan import shared_vocoder
from insideout.tts.mel import MEL, mel_spectrogram
from insideout.tts.synthesize import Synthesizer, shared_synthesizer
from tests import tts_fixtures

TEXT = "She put the blue folder on the kitchen table."


@pytest.fixture(scope="module")
def mel() -> np.ndarray:
    wave, _ = render_clip(TEXT, "happy", "espeak-f", 4)
    return mel_spectrogram(wave)[0].numpy()


def cepstrum(x: np.ndarray) -> np.ndarray:
    return dct(np.asarray(x, dtype=np.float64), type=2, norm="ortho", axis=0)


def test_sharpening_scales_the_envelopes_detail_and_keeps_each_frames_level_and_tilt(mel):
    sharp = postfilter.sharpen(mel, 0.15)
    assert sharp.shape == mel.shape and sharp.dtype == np.float32
    before, after = cepstrum(mel), cepstrum(sharp)
    np.testing.assert_allclose(after[:2], before[:2], atol=1e-3)  # c0 (level) and c1 (tilt) as the model made them
    np.testing.assert_allclose(after[2:], 1.15 * before[2:], atol=1e-3)
    np.testing.assert_allclose(sharp.mean(axis=0), mel.mean(axis=0), atol=1e-4)  # each frame's mean log level
    # peaks rise and valleys fall: each frame's spread across the bins grows
    assert np.all(sharp.std(axis=0) >= mel.std(axis=0) - 1e-5)
    assert np.median(sharp.std(axis=0) / mel.std(axis=0)) > 1.05


def test_no_emphasis_gives_back_a_copy_and_the_input_is_left_as_it_was(mel):
    kept = mel.copy()
    plain = postfilter.sharpen(mel, 0.0)
    np.testing.assert_array_equal(plain, mel)
    assert plain is not mel
    postfilter.sharpen(mel, 0.5)
    np.testing.assert_array_equal(mel, kept)
    assert postfilter.sharpen(np.zeros((MEL.n_mels, 0)), 0.3).shape == (MEL.n_mels, 0)


def test_an_emphasis_outside_its_limits_or_a_mel_of_the_wrong_shape_is_refused(mel):
    with pytest.raises(ValueError, match="beta must be from 0 to 1, got 1.5"):
        postfilter.sharpen(mel, 1.5)
    with pytest.raises(ValueError, match="beta must be from 0 to 1, got -0.1"):
        postfilter.check_beta(-0.1)
    with pytest.raises(ValueError, match="expected a log mel of shape"):
        postfilter.sharpen(mel[:10], 0.15)


def test_a_synthesizer_sharpens_what_it_speaks_with_the_postfilter_and_says_by_how_much(tmp_path):
    vocoder = shared_vocoder("universal")
    model = t2.load(tts_fixtures.write_insideout(tmp_path / "tiny.pt", stops=False, max_step=40))
    default = Synthesizer(model, vocoder, guide="off")
    assert default.postfilter == postfilter.BETA > 0  # what generation and evaluation speak with
    none = Synthesizer(model, vocoder, guide="off", postfilter=0.0)
    torch.manual_seed(0)  # the prenet's dropout stays on at inference: the same seed, the same mel
    sharp = default.speak(TEXT, "happy")
    torch.manual_seed(0)
    plain = none.speak(TEXT, "happy")
    assert (sharp.postfilter, plain.postfilter) == (postfilter.BETA, 0.0)
    np.testing.assert_array_equal(sharp.mel, plain.mel)  # the model's own mel is kept, before the postfilter
    assert not np.allclose(sharp.wave, plain.wave)
    with pytest.raises(ValueError, match="beta must be from 0 to 1"):
        Synthesizer(model, vocoder, postfilter=2.0)
    # one shared synthesizer per postfilter
    path = tmp_path / "tiny.pt"
    assert shared_synthesizer(path, postfilter=0.0) is not shared_synthesizer(path)
    assert shared_synthesizer(path, postfilter=0.0).postfilter == 0.0
    assert shared_synthesizer(path) is shared_synthesizer(path, postfilter=postfilter.BETA)  # the default, once
