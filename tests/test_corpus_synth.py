"""The starter library's synthesis: voices, emotion presets, provenance, the sentence list."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from insideout.corpus import acoustics
from insideout.corpus.presets import PRESETS, EmotionPreset, preset_for
from insideout.corpus.synth import (
    PEAK_CEILING,
    SAMPLE_RATE,
    VOICES,
    available_voices,
    render_clip,
)
from insideout.emotions import EMOTION_IDS

SENTENCES_FILE = Path(__file__).resolve().parent.parent / "data" / "sentences.txt"
SHORT_TEXT = "The kettle is on the stove."
EMOTION_WORDS = {
    *EMOTION_IDS, "happiness", "glad", "joy", "joyful", "cheerful", "delighted", "excited", "sadness",
    "unhappy", "cry", "crying", "tears", "lonely", "anger", "mad", "furious", "rage", "annoyed", "upset",
    "fear", "afraid", "scared", "frightened", "terrified", "worried", "nervous", "anxious", "disgusting",
    "gross", "surprise", "shocked", "amazed", "amazing", "relaxed", "peaceful", "love", "hate",
    "terrible", "awful", "horrible", "wonderful", "great", "lovely", "beautiful", "ugly",
}


def _voice_or_skip(voice_id: str) -> None:
    if voice_id not in available_voices():
        pytest.skip(f"voice {voice_id} does not load on this machine")


def test_at_least_three_voices_load_offline() -> None:
    voices = available_voices()
    assert len(voices) >= 3, f"only {voices} load"
    assert set(voices) <= set(VOICES)
    assert {"piper", "espeak"} <= {voice.split("-")[0] for voice in voices}


@pytest.mark.parametrize("emotion_id", EMOTION_IDS)
@pytest.mark.parametrize("voice_id", VOICES)
def test_every_voice_renders_every_emotion(voice_id: str, emotion_id: str) -> None:
    _voice_or_skip(voice_id)
    wave, _ = render_clip(SHORT_TEXT, emotion_id, voice_id, seed=1)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert np.isfinite(wave).all()
    assert 0.8 < len(wave) / SAMPLE_RATE < 6.0
    assert 0.05 < np.abs(wave).max() <= PEAK_CEILING  # audible, never clipped


@pytest.mark.parametrize("voice_id", VOICES)
def test_same_seed_gives_the_same_clip_whatever_came_before(voice_id: str) -> None:
    _voice_or_skip(voice_id)
    first, _ = render_clip(SHORT_TEXT, "fearful", voice_id, seed=7)
    render_clip("The calendar hangs above the desk.", "sad", voice_id, seed=3)  # engine state moves on
    again, _ = render_clip(SHORT_TEXT, "fearful", voice_id, seed=7)
    np.testing.assert_array_equal(first, again)


def test_another_seed_gives_another_clip() -> None:
    voice_id = available_voices()[0]
    one, _ = render_clip(SHORT_TEXT, "happy", voice_id, seed=1)
    two, _ = render_clip(SHORT_TEXT, "happy", voice_id, seed=2)
    assert len(one) != len(two) or not np.array_equal(one, two)


def test_provenance_names_engine_voice_preset_and_text() -> None:
    voice_id = available_voices()[0]
    _, provenance = render_clip(f"  {SHORT_TEXT} ", "angry", voice_id, seed=5)
    assert provenance["engine"] in {"piper", "espeak-ng"}
    assert provenance["voice"] == voice_id
    assert provenance["preset"] == "angry"
    assert provenance["preset_params"] == preset_for("angry").as_dict()
    assert provenance["text"] == SHORT_TEXT
    assert provenance["seed"] == 5 and provenance["sample_rate"] == SAMPLE_RATE


def test_unknown_emotion_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="unknown emotion 'bored'"):
        render_clip(SHORT_TEXT, "bored", available_voices()[0], seed=0)


def test_unknown_voice_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="unknown voice 'robot'"):
        render_clip(SHORT_TEXT, "neutral", "robot", seed=0)


@pytest.mark.parametrize("text", ["", "   ", "...", None])
def test_empty_text_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="text"):
        render_clip(text, "neutral", available_voices()[0], seed=0)


def test_negative_seed_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="seed"):
        render_clip(SHORT_TEXT, "neutral", available_voices()[0], seed=-1)


def test_presets_follow_the_emotion_list() -> None:
    assert tuple(PRESETS) == EMOTION_IDS
    assert all(preset.emotion_id == emotion_id for emotion_id, preset in PRESETS.items())


def test_neutral_preset_is_the_identity() -> None:
    assert PRESETS["neutral"] == EmotionPreset("neutral")


def test_sentences_are_many_short_and_unique() -> None:
    lines = [line.strip() for line in SENTENCES_FILE.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    assert len(set(lines)) == len(lines) >= 40
    assert all(5 <= len(line.split()) <= 10 for line in lines)


def test_sentences_carry_no_emotion_words() -> None:
    words = set(re.findall(r"[a-z]+", SENTENCES_FILE.read_text(encoding="utf-8").lower()))
    assert not words & EMOTION_WORDS


# --- the presets move the acoustics in the documented directions -----------------------------------

DIRECTION_SENTENCES = (
    "The train leaves the station at nine.",
    "Please put the blue folder on the second shelf.",
    "The meeting room is on the third floor.",
)


@pytest.fixture(scope="module")
def measured() -> dict[str, list[acoustics.Acoustics]]:
    """Every emotion, spoken by two voices (Piper's and a female espeak one) over three sentences."""
    preferred = [voice for voice in ("piper-joe", "espeak-f") if voice in available_voices()]
    voices = preferred if len(preferred) == 2 else list(available_voices()[:2])
    return {
        emotion_id: [
            acoustics.measure(render_clip(text, emotion_id, voice, seed=11 + i)[0], SAMPLE_RATE)
            for voice in voices
            for i, text in enumerate(DIRECTION_SENTENCES)
        ]
        for emotion_id in EMOTION_IDS
    }


def _median(measured: dict[str, list[acoustics.Acoustics]], emotion_id: str, field: str) -> float:
    return float(np.median([getattr(clip, field) for clip in measured[emotion_id]]))


@pytest.mark.parametrize(
    ("emotion_id", "field", "relation", "reference"),
    [
        ("sad", "duration_s", ">", "neutral"),  # slower
        ("sad", "median_f0_hz", "<", "neutral"),
        ("sad", "f0_range_st", "<", "neutral"),
        ("sad", "energy_db", "<", "neutral"),
        ("angry", "energy_db", ">", "calm"),
        ("angry", "energy_db", ">", "neutral"),
        ("angry", "duration_s", "<", "sad"),
        ("happy", "median_f0_hz", ">", "neutral"),
        ("happy", "f0_range_st", ">", "neutral"),
        ("surprised", "f0_range_st", ">", "neutral"),
        ("surprised", "median_f0_hz", ">", "neutral"),
        ("fearful", "median_f0_hz", ">", "neutral"),
        ("fearful", "duration_s", "<", "neutral"),  # faster
        ("calm", "energy_db", "<", "neutral"),
        ("calm", "duration_s", ">", "neutral"),
        ("disgust", "median_f0_hz", "<", "neutral"),
        ("disgust", "duration_s", ">", "neutral"),
    ],
)
def test_preset_moves_the_acoustics_in_the_documented_direction(
    measured: dict[str, list[acoustics.Acoustics]], emotion_id: str, field: str, relation: str,
    reference: str,
) -> None:
    value, baseline = _median(measured, emotion_id, field), _median(measured, reference, field)
    if relation == ">":
        assert value > baseline, f"{emotion_id} {field} {value:.2f} should exceed {reference} {baseline:.2f}"
    else:
        assert value < baseline, f"{emotion_id} {field} {value:.2f} should be below {reference} {baseline:.2f}"
