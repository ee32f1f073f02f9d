"""The eight emotions of the RAVDESS set, in their canonical order: the one place that lists them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Emotion:
    id: str
    en: str
    ko: str
    ravdess_code: str


EMOTIONS: tuple[Emotion, ...] = (
    Emotion("neutral", "Neutral", "중립", "01"),
    Emotion("calm", "Calm", "차분함", "02"),
    Emotion("happy", "Happy", "행복", "03"),
    Emotion("sad", "Sad", "슬픔", "04"),
    Emotion("angry", "Angry", "화남", "05"),
    Emotion("fearful", "Fearful", "두려움", "06"),
    Emotion("disgust", "Disgust", "혐오", "07"),
    Emotion("surprised", "Surprised", "놀람", "08"),
)

EMOTION_IDS: tuple[str, ...] = tuple(e.id for e in EMOTIONS)
_BY_ID = {e.id: e for e in EMOTIONS}
_BY_RAVDESS = {e.ravdess_code: e for e in EMOTIONS}


class UnknownEmotion(ValueError):
    pass


def emotion(emotion_id: str) -> Emotion:
    """The emotion with this id; UnknownEmotion names the valid ids otherwise."""
    try:
        return _BY_ID[emotion_id]
    except (KeyError, TypeError):
        raise UnknownEmotion(
            f"unknown emotion {emotion_id!r}; expected one of {', '.join(EMOTION_IDS)}"
        ) from None


def is_emotion(value: object) -> bool:
    return isinstance(value, str) and value in _BY_ID


def from_ravdess_code(code: str) -> Emotion:
    try:
        return _BY_RAVDESS[code]
    except KeyError:
        raise UnknownEmotion(f"unknown RAVDESS emotion code {code!r}; expected 01..08") from None
