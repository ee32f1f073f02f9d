"""Text frontends: text -> symbol ids for the acoustic model.

Two are offered. `phonemes` (the default) speaks through espeak-ng's English phonemizer, the one
Piper uses (it ships with piper-tts, offline): spelling is irregular in English, and a small model
trained on a few thousand sentences learns phonemes far better than letters. `chars` is plain
letters and punctuation, for checkpoints trained on characters (torchaudio's and NVIDIA's).
A frontend is saved inside each checkpoint by name and symbol table, so a model and its text always
agree.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass, field

MAX_TEXT_CHARS = 400  # longer text would need splitting; refuse it clearly instead

PAD = "_"
PUNCTUATION = " !',.:;?-"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# IPA symbols espeak-ng writes for English, stress and length marks, and combining marks (NFD).
IPA = "æɑɐɒɔəɚɛɜɝɪɨʊʌɹɾʃʒθðŋɡʔʍɬɫᵻɵɘɞɤʉʏøœɯçxʎɲβ" + "ˈˌːˑ" + "\u0303\u0329\u032f\u0306"

# torchaudio's character set for its Tacotron2 bundles, and NVIDIA's (letters of both cases; its
# ARPAbet symbols follow but are not produced from plain text).
TORCHAUDIO_CHARS = "_-!'(),.:;? abcdefghijklmnopqrstuvwxyz"
NVIDIA_CHARS = "_-!'(),.:;? ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class TextError(ValueError):
    pass


@dataclass(frozen=True)
class Frontend:
    name: str  # "phonemes" or "chars"
    symbols: str  # index = symbol id; index 0 is padding
    lowercase: bool = True
    unknown: dict = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "symbols": self.symbols, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: dict) -> Frontend:
        return cls(data["name"], data["symbols"], data.get("lowercase", True))

    def encode(self, text: str) -> list[int]:
        """Text -> ids; symbols outside the table are dropped. TextError for empty or long text."""
        text = clean(text)
        units = phonemize(text) if self.name == "phonemes" else list(text.lower() if self.lowercase else text)
        table = {s: i for i, s in enumerate(self.symbols)}
        ids = [table[u] for u in units if u in table]
        if not ids:
            raise TextError("the text has nothing this model can speak")
        return ids


def clean(text: str) -> str:
    if not isinstance(text, str):
        raise TextError("text must be a string")
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).strip()
    if not text:
        raise TextError("the text is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise TextError(f"the text is {len(text)} characters long; the limit is {MAX_TEXT_CHARS}")
    return text


PHONEMES = Frontend("phonemes", PAD + PUNCTUATION + LETTERS + IPA)
CHARS = Frontend("chars", PAD + PUNCTUATION + LETTERS)
TORCHAUDIO = Frontend("chars", TORCHAUDIO_CHARS)
NVIDIA = Frontend("chars", NVIDIA_CHARS, lowercase=False)

_phonemizer = None
_phonemizer_lock = threading.Lock()


def phonemize(text: str) -> list[str]:
    """IPA symbols of English text through espeak-ng (single-threaded inside, hence the lock)."""
    global _phonemizer
    with _phonemizer_lock:
        if _phonemizer is None:
            from piper.phonemize_espeak import EspeakPhonemizer

            _phonemizer = EspeakPhonemizer()
        sentences = _phonemizer.phonemize("en-us", text)
    units: list[str] = []
    for sentence in sentences:
        if units and units[-1] != " ":
            units.append(" ")
        units.extend(sentence)
    return units
