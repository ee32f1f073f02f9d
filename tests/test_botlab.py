"""The bot lab's machine listeners: features, the emotion classifier, offline recognition and WER.
Real audio from the starter voices; no stand-ins."""

from __future__ import annotations

import numpy as np
import pytest

from insideout.botlab import asr
from insideout.botlab import classifier as emotion_classifier
from insideout.botlab.features import FEATURE_NAMES, FEATURE_SETS, feature_names, features
from insideout.corpus.synth import render_clip
from insideout.emotions import EMOTION_IDS
from insideout.wav import SAMPLE_RATE
from tests.conftest import tone

SENTENCES = ("The train leaves the station at nine.", "Please put the blue folder on the second shelf.",
             "The meeting room is on the third floor.", "The library opens at ten on weekdays.",
             "She parked the car next to the old bridge.", "The package arrived on Tuesday afternoon.")


def example(text: str, emotion: str, voice: str = "piper-joe", seed: int = 1) -> emotion_classifier.Example:
    wave, _ = render_clip(text, emotion, voice, seed)
    return emotion_classifier.Example(wave, SAMPLE_RATE, emotion, text)


@pytest.fixture(scope="module")
def every_emotion() -> list[emotion_classifier.Example]:
    """Two sentences in each of the eight emotions."""
    return [example(text, emotion, seed=i) for i, text in enumerate(SENTENCES[:2]) for emotion in EMOTION_IDS]


@pytest.fixture(scope="module")
def fitted(every_emotion) -> emotion_classifier.EmotionClassifier:
    return emotion_classifier.fit(every_emotion)


# -- features --------------------------------------------------------------------------------------


def test_features_have_a_fixed_length_for_any_clip():
    for wave in (tone(1, 2.0), tone(2, 0.05), np.zeros(22050, np.float32)):
        vector = features(wave, SAMPLE_RATE)
        assert vector.shape == (len(FEATURE_NAMES),) and np.isfinite(vector).all()


@pytest.mark.parametrize("feature_set", FEATURE_SETS)
def test_every_feature_set_has_a_fixed_length_even_for_silence(feature_set):
    for wave in (tone(1, 2.0), tone(2, 0.05), np.zeros(22050, np.float32)):
        vector = features(wave, SAMPLE_RATE, feature_set)
        assert vector.shape == (len(feature_names(feature_set)),) and np.isfinite(vector).all()


def test_egemaps_is_openSMILEs_88_functionals_and_the_pair_holds_both_sets():
    egemaps = feature_names("egemaps")
    assert len(egemaps) == 88 and "egemaps:F0semitoneFrom27.5Hz_sma3nz_amean" in egemaps
    assert feature_names("egemaps+librosa") == egemaps + FEATURE_NAMES


def test_egemaps_features_do_not_depend_on_playback_gain_and_hear_a_higher_voice():
    wave = example(SENTENCES[0], "happy").wave
    assert np.allclose(features(wave, SAMPLE_RATE, "egemaps"), features(wave * 0.25, SAMPLE_RATE, "egemaps"),
                       rtol=1e-3, atol=1e-3)
    pitch = feature_names("egemaps").index("egemaps:F0semitoneFrom27.5Hz_sma3nz_amean")
    low, high = example(SENTENCES[0], "neutral", "piper-joe"), example(SENTENCES[0], "neutral", "piper-joe-high")
    assert features(high.wave, SAMPLE_RATE, "egemaps")[pitch] > features(low.wave, SAMPLE_RATE, "egemaps")[pitch] + 2


def test_an_unknown_feature_set_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown feature set 'mfcc-only'"):
        features(tone(1, 0.5), SAMPLE_RATE, "mfcc-only")


def test_features_do_not_depend_on_playback_gain():
    wave = example(SENTENCES[0], "happy").wave
    assert np.allclose(features(wave, SAMPLE_RATE), features(wave * 0.25, SAMPLE_RATE), rtol=1e-3, atol=1e-3)


def test_features_do_not_depend_on_the_sample_rate():
    from insideout.wav import resample

    wave = example(SENTENCES[0], "sad").wave
    at_16k = resample(wave, SAMPLE_RATE, 16_000)
    a, b = features(wave, SAMPLE_RATE), features(at_16k, 16_000)
    pitch = FEATURE_NAMES.index("pitch_mean")
    assert abs(a[pitch] - b[pitch]) < 0.1


def test_a_higher_voice_has_a_higher_pitch_feature():
    pitch = FEATURE_NAMES.index("pitch_mean")
    low, high = example(SENTENCES[0], "neutral", "piper-joe"), example(SENTENCES[0], "neutral", "piper-joe-high")
    assert features(high.wave, SAMPLE_RATE)[pitch] > features(low.wave, SAMPLE_RATE)[pitch] + 2  # semitones


# -- the classifier ------------------------------------------------------------------------------------


def test_the_classifier_names_angry_and_sad_of_unseen_sentences():
    train = [example(text, emotion, seed=i) for i, text in enumerate(SENTENCES[:4]) for emotion in ("angry", "sad")]
    clf = emotion_classifier.fit(train, cross_validate=False)
    unseen = [example(text, emotion, seed=9) for text in SENTENCES[4:] for emotion in ("angry", "sad")]
    assert clf.predict([u.wave for u in unseen], SAMPLE_RATE) == [u.emotion for u in unseen]


def test_a_classifier_keeps_its_feature_set_through_a_save_and_predicts_with_it(every_emotion, tmp_path):
    clf = emotion_classifier.fit(every_emotion, cross_validate=False, feature_set="egemaps+librosa")
    clf.save(tmp_path / "c.pkl")
    loaded = emotion_classifier.load(tmp_path / "c.pkl")
    assert loaded.feature_set == "egemaps+librosa" and len(loaded.feature_names) == 88 + len(FEATURE_NAMES)
    waves = [ex.wave for ex in every_emotion[:4]]
    assert loaded.predict(waves, SAMPLE_RATE) == clf.predict(waves, SAMPLE_RATE)


def test_feature_sets_are_compared_on_held_out_sentences_and_on_other_clips(every_emotion):
    train = [example(text, emotion, seed=i) for i, text in enumerate(SENTENCES[2:4]) for emotion in EMOTION_IDS]
    rows = emotion_classifier.compare_feature_sets(train, every_emotion, ["librosa", "egemaps"])
    assert [(r["feature_set"], r["features"]) for r in rows] == [("librosa", len(FEATURE_NAMES)), ("egemaps", 88)]
    for row in rows:
        assert 0 <= row["cv_accuracy"] <= 1 and 0 <= row["test_accuracy"] <= 1 and row["extract_ms_per_clip"] > 0


def test_the_classifier_measures_itself_on_sentences_it_did_not_train_on(fitted):
    assert fitted.trained_on == 16
    assert 0.0 <= fitted.cv_accuracy <= 1.0  # two folds, split by sentence


def test_a_saved_classifier_predicts_the_same(fitted, every_emotion, tmp_path):
    fitted.save(tmp_path / "c.pkl")
    again = emotion_classifier.load(tmp_path / "c.pkl")
    waves = [e.wave for e in every_emotion]
    assert again.predict(waves, SAMPLE_RATE) == fitted.predict(waves, SAMPLE_RATE)


def test_a_file_that_is_no_classifier_is_refused(tmp_path):
    import pickle

    (tmp_path / "c.pkl").write_bytes(pickle.dumps({"something": "else"}))
    with pytest.raises(ValueError, match="not an InsideOut emotion classifier"):
        emotion_classifier.load(tmp_path / "c.pkl")


def test_the_cache_is_reused_for_the_same_clips_and_refitted_for_others(every_emotion, tmp_path):
    cache = tmp_path / "c.pkl"
    first = emotion_classifier.cached_fit(every_emotion, cache)
    stamp = cache.stat().st_mtime_ns
    assert emotion_classifier.cached_fit(every_emotion, cache).fingerprint == first.fingerprint
    assert cache.stat().st_mtime_ns == stamp
    other = emotion_classifier.cached_fit(every_emotion[:-1], cache)
    assert other.fingerprint != first.fingerprint and other.trained_on == 15


def test_a_broken_cache_is_refitted(every_emotion, tmp_path):
    cache = tmp_path / "c.pkl"
    cache.write_bytes(b"not a pickle")
    assert emotion_classifier.cached_fit(every_emotion, cache).trained_on == 16


def test_vocoded_copies_keep_emotion_group_and_length(every_emotion):
    originals = every_emotion[:2]
    copies = emotion_classifier.vocoded_copies(originals)
    assert [(c.emotion, c.group, c.sample_rate) for c in copies] == [(o.emotion, o.group, SAMPLE_RATE)
                                                                     for o in originals]
    for original, copy in zip(originals, copies, strict=True):
        assert abs(copy.wave.size - original.wave.size) <= 256  # one mel hop
        assert not np.allclose(copy.wave[: original.wave.size], original.wave[: copy.wave.size])


def test_a_classifier_with_vocoded_copies_learns_from_both_and_is_cached_apart(every_emotion, tmp_path):
    cache = tmp_path / "c.pkl"
    plain = emotion_classifier.cached_fit(every_emotion, cache)
    with_copies = emotion_classifier.cached_fit(every_emotion, cache, vocoder="universal")
    assert with_copies.trained_on == 32 and with_copies.fingerprint != plain.fingerprint
    assert emotion_classifier.load(cache).fingerprint == with_copies.fingerprint


def test_one_emotion_is_not_enough_to_fit():
    with pytest.raises(ValueError, match="two emotions"):
        emotion_classifier.fit([example(SENTENCES[0], "sad"), example(SENTENCES[1], "sad")])


def test_the_classifier_learns_from_the_librarys_starter_clips(services):
    from insideout.library import ClipInfo

    for e in (example(SENTENCES[0], "angry"), example(SENTENCES[1], "calm")):
        services.library.add(e.wave, SAMPLE_RATE, "play",
                             ClipInfo(source="starter", label=e.emotion, intended_emotion=e.emotion, text=e.group))
    services.library.add(tone(3, 1.0), SAMPLE_RATE, "play", ClipInfo(source="manifest", label="sad"))
    examples = emotion_classifier.starter_examples(services.library)
    assert sorted(e.emotion for e in examples) == ["angry", "calm"]
    assert all(e.wave.dtype == np.float32 and np.abs(e.wave).max() <= 1.0 for e in examples)


# -- recognition and word error rate ----------------------------------------------------------------


def test_words_are_lowercased_without_punctuation_and_digits_spelled():
    assert asr.words("The train leaves at 9, doesn't it?") == ["the", "train", "leaves", "at", "nine", "doesn't",
                                                                "it"]


@pytest.mark.parametrize(("reference", "hypothesis", "expected"), [
    ("the cat sat", "the cat sat", 0.0),
    ("the cat sat", "the cat sat down", 1 / 3),
    ("the cat sat", "a cat", 2 / 3),
    ("the cat sat", "", 1.0),
])
def test_word_error_rate(reference, hypothesis, expected):
    assert asr.word_error_rate([reference], [hypothesis]) == pytest.approx(expected)


def test_word_error_rate_pools_the_words_of_every_sentence():
    assert asr.word_error_rate(["one two three four", "five"], ["one two three four", "six"]) == pytest.approx(0.2)


def test_word_error_rate_needs_words_and_pairs():
    with pytest.raises(ValueError):
        asr.word_error_rate(["..."], [""])
    with pytest.raises(ValueError):
        asr.word_error_rate(["a"], [])


def test_the_recognizer_hears_a_clear_voice():
    text = SENTENCES[0]
    heard = asr.shared_recognizer().transcribe(example(text, "neutral", "piper-joe-high").wave, SAMPLE_RATE)
    assert asr.word_error_rate([text], [heard]) <= 0.3, heard


def test_the_recognizer_hears_nothing_in_silence():
    assert asr.shared_recognizer().transcribe(np.zeros(22050, np.float32), SAMPLE_RATE) == ""


def test_a_process_waits_for_another_compiling_librosas_functions_before_its_first_extraction(tmp_path):
    # numba's gufunc cache is not safe for two processes compiling at once (numba/numba#10128): the first
    # extraction runs under a lock file in the temp folder, here the test's own (TMPDIR), held by the test.
    import fcntl
    import os
    import subprocess
    import sys
    import time

    from insideout.botlab.features import COMPILE_LOCK

    with open(tmp_path / COMPILE_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.Popen([sys.executable, "-c", "import insideout.botlab.features; print('extracted')"],
                                env={**os.environ, "TMPDIR": str(tmp_path)}, stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(6)  # twice what importing and a first extraction take here, were the lock not honoured
            assert proc.poll() is None
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and out.strip() == "extracted"
