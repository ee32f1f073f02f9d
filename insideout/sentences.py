"""The project's shipped sentences and its one text-cleaning rule.

Two files, kept apart on purpose:
- data/sentences.txt: spoken by the starter library (corpus/starter.py) and drawn by generation. The crowd
  labels those clips and every in-app fine-tune replays them, so models learn these sentences.
- data/sentences-heldout.txt: evaluation only (tts/evaluation.py). Neither the starter library nor the
  teacher corpus (corpus/teacher.py) speaks them, so a model's held-out scores are on text it never trained
  on (tests/test_sentences.py checks both).

clean_text() is what every text-to-speech entry point (the offline voices of corpus/synth.py, the acoustic
model's frontend in tts/text.py) does to its text first, so the same text is refused or accepted alike.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SENTENCES_FILE = DATA_DIR / "sentences.txt"
HELDOUT_SENTENCES_FILE = DATA_DIR / "sentences-heldout.txt"

MAX_TEXT_CHARS = 400  # longer text would need splitting; refuse it clearly instead


class TextError(ValueError):
    """Text that cannot be spoken: not a string, nothing to say, or too long."""


def load_sentences(path: Path = SENTENCES_FILE) -> list[str]:
    """The sentences of a file, one a line; blank lines and lines starting with # are skipped."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def held_out_sentences(path: Path = HELDOUT_SENTENCES_FILE) -> list[str]:
    """The evaluation's sentences: never spoken by the starter library or the teacher corpus."""
    return load_sentences(path)


def clean_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """text in NFC with runs of whitespace made one space and the ends stripped.

    TextError when text is not a string, has no letter or digit (punctuation alone says nothing), or
    is longer than max_chars once cleaned.
    """
    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    # NFC first: a decomposed accent would otherwise count as two characters and spell differently.
    cleaned = " ".join(unicodedata.normalize("NFC", text).split())
    if not any(ch.isalnum() for ch in cleaned):
        raise TextError("the text is empty: give at least one word to speak")
    if len(cleaned) > max_chars:
        raise TextError(f"the text is {len(cleaned)} characters long; the limit is {max_chars}")
    return cleaned
