"""Text frontends: text -> symbol ids for the acoustic model.

Two are offered. `phonemes` (the default) speaks through espeak-ng's English phonemizer, the one
Piper uses (it ships with piper-tts, offline): spelling is irregular in English, and a small model
trained on a few thousand sentences learns phonemes far better than letters. `chars` is plain
letters and punctuation, for checkpoints trained on characters (torchaudio's and NVIDIA's).
A frontend is saved inside each checkpoint by name and symbol table, so a model and its text always
agree. Text is cleaned first by insideout.sentences.clean_text, as the offline voices clean theirs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from ..sentences import TextError, clean_text  # TextError stays importable from here for callers

# Attention cost grows with the text; longer text would need splitting, so it is refused clearly instead.
MAX_TEXT_CHARS = 400

PAD = "_"
PUNCTUATION = " !',.:;?-"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# IPA symbols espeak-ng writes for English, stress and length marks, and combining marks (NFD).
IPA = "æɑɐɒɔəɚɛɜɝɪɨʊʌɹɾʃʒθðŋɡʔʍɬɫᵻɵɘɞɤʉʏøœɯçxʎɲβ" + "ˈˌːˑ" + "\u0303\u0329\u032f\u0306"

# torchaudio's character set for its Tacotron2 bundles, and NVIDIA's (letters of both cases; its
# ARPAbet symbols follow but are not produced from plain text).
TORCHAUDIO_CHARS = "_-!'(),.:;? abcdefghijklmnopqrstuvwxyz"
NVIDIA_CHARS = "_-!'(),.:;? ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


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
        text = clean_text(text, MAX_TEXT_CHARS)
        units = phonemize(text) if self.name == "phonemes" else list(text.lower() if self.lowercase else text)
        table = {s: i for i, s in enumerate(self.symbols)}
        ids = [table[u] for u in units if u in table]
        if not ids:
            raise TextError("the text has nothing this model can speak")
        return ids


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
