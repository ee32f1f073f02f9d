"""Offline speech recognition (pocketsphinx's US English model, in its wheel) and word error rate.

Intelligibility of generated speech is measured as the word error rate of this recognizer against
the sentence the model was asked to speak, always beside the same measure on the teacher's clips of
the same sentences: the recognizer is weak on synthetic voices (espeak-ng's especially), so only the
difference between the two says something about the model.
"""

from __future__ import annotations

import re
import threading

import numpy as np

from ..wav import resample

ASR_RATE = 16_000  # the acoustic model's rate
_WORD = re.compile(r"[a-z']+")
_NUMBERS = {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "6": "six",
            "7": "seven", "8": "eight", "9": "nine", "10": "ten"}


def words(text: str) -> list[str]:
    """Lowercase words without punctuation; lone digits spelled out as the recognizer writes them."""
    text = re.sub(r"\b(10|[0-9])\b", lambda m: _NUMBERS[m.group(1)], text.lower())
    return _WORD.findall(text)


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Word substitutions, deletions and insertions (Levenshtein over words)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1]


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: total edits over total reference words (can exceed 1 with many insertions)."""
    if len(references) != len(hypotheses):
        raise ValueError("give one hypothesis per reference")
    edits = sum(edit_distance(words(r), words(h)) for r, h in zip(references, hypotheses, strict=True))
    total = sum(len(words(r)) for r in references)
    if total == 0:
        raise ValueError("the references have no words")
    return edits / total


class Recognizer:
    """pocketsphinx with its default US English acoustic and language models. One decode at a time."""

    def __init__(self):
        from pocketsphinx import Decoder

        # batch cepstral mean normalization: each clip is a whole utterance, so no live estimate is needed
        self._decoder = Decoder(samprate=ASR_RATE, cmn="batch", loglevel="FATAL")
        self._lock = threading.Lock()

    def transcribe(self, wave: np.ndarray, sample_rate: int) -> str:
        x = resample(np.asarray(wave, dtype=np.float64), sample_rate, ASR_RATE)
        peak = np.abs(x).max() if x.size else 0.0
        if peak == 0:
            return ""  # digital silence: its normalized cepstra are degenerate and the decoder invents a word
        x = x * (0.7 / peak)
        pcm = (x * 32767).astype("<i2").tobytes()
        with self._lock:
            self._decoder.start_utt()
            self._decoder.process_raw(pcm, full_utt=True)
            self._decoder.end_utt()
            hyp = self._decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


_shared: Recognizer | None = None
_shared_lock = threading.Lock()


def shared_recognizer() -> Recognizer:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Recognizer()
        return _shared
