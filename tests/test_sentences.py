"""The shipped sentences and the one text-cleaning rule (insideout/sentences.py): the evaluation's held-out
sentences are never spoken by the starter library or the teacher corpus, and every speaker cleans text alike."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from insideout.corpus import synth, teacher
from insideout.emotions import EMOTION_IDS
from insideout.sentences import MAX_TEXT_CHARS, TextError, clean_text, held_out_sentences, load_sentences
from insideout.tts import evaluation
from insideout.tts.text import PHONEMES
from tests.test_corpus_synth import EMOTION_WORDS

SHIPPED_TEACHER_SENTENCES = 5000  # the shipped model's second corpus (model card); the first 3000 are its start
TEMPLATE_OPTIONS = {
    "adj": teacher.ADJECTIVES, "noun": [s for s, _ in teacher.NOUNS], "nouns": [p for _, p in teacher.NOUNS],
    "prep": teacher.PREPOSITIONS, "place": teacher.PLACES, "name": teacher.NAMES, "name2": teacher.NAMES,
    "verb_past": [past for past, _ in teacher.VERBS], "verb": [base for _, base in teacher.VERBS],
    "time": teacher.TIMES, "number": teacher.NUMBERS, "colors": teacher.COLORS_OF_THINGS,
}


def normalized(sentence: str) -> str:
    """Lowercase words only: two sentences that differ in case, punctuation or spacing compare equal."""
    return " ".join(re.findall(r"[a-z0-9']+", sentence.lower()))


def template_pattern(template: str) -> re.Pattern:
    """Every normalized sentence a teacher template can give, whatever the seed."""
    pieces = []
    for part in re.split(r"(\{\w+\})", template):
        if part.startswith("{"):
            pieces.append("(?:" + "|".join(re.escape(normalized(o)) for o in TEMPLATE_OPTIONS[part[1:-1]]) + ")")
        elif normalized(part):
            pieces.append(re.escape(normalized(part)))
    return re.compile(" ".join(pieces))


@pytest.fixture(scope="module")
def held_out() -> list[str]:
    return held_out_sentences()


def test_there_are_about_sixty_held_out_sentences_short_unique_and_plain(held_out):
    assert len(held_out) >= 50
    assert len({normalized(s) for s in held_out}) == len(held_out)
    assert all(5 <= len(s.split()) <= 10 and s[0].isupper() and s.endswith(".") for s in held_out)


def test_held_out_sentences_name_no_emotion(held_out):
    words = {w for s in held_out for w in teacher.words(s)}
    assert not words & (EMOTION_WORDS | teacher.EMOTION_WORDS | set(EMOTION_IDS))


def test_every_held_out_word_is_in_the_recognizers_dictionary(held_out):
    from pocketsphinx import get_model_path

    dictionary = Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"
    lines = dictionary.read_text(encoding="utf-8").splitlines()
    known = {line.split()[0].split("(")[0] for line in lines if line.strip()}  # "word(2)" is a second spelling
    assert {w for s in held_out for w in teacher.words(s)} <= known


def test_held_out_sentences_are_not_starter_sentences(held_out):
    assert not {normalized(s) for s in held_out} & {normalized(s) for s in load_sentences()}


def test_held_out_sentences_are_not_in_the_shipped_models_teacher_corpus(held_out):
    corpus = {normalized(s) for s in teacher.teacher_sentences(SHIPPED_TEACHER_SENTENCES, seed=0)}
    assert len(corpus) == SHIPPED_TEACHER_SENTENCES
    assert not {normalized(s) for s in held_out} & corpus


def test_no_teacher_template_can_produce_a_held_out_sentence_at_any_seed(held_out):
    patterns = [template_pattern(t) for t in teacher.TEMPLATES]
    # the patterns are not vacuous: they recognize every sentence the generator actually gives
    assert all(any(p.fullmatch(normalized(s)) for p in patterns) for s in teacher.teacher_sentences(500, seed=3))
    assert [s for s in held_out if any(p.fullmatch(normalized(s)) for p in patterns)] == []


def test_held_out_only_ever_draws_held_out_sentences(monkeypatch, held_out):
    def silent(text, emotion_id, voice_id, seed):
        return np.zeros(10, np.float32), {}

    monkeypatch.setattr(synth, "render_clip", silent)  # held_out() imports it when called
    drawn = {c.text for seed in range(5) for c in evaluation.held_out(per_emotion=20, seed=seed)}
    assert drawn <= set(held_out)
    assert len(drawn) > len(held_out) // 2  # it draws across the file, not from a corner of it


def test_clean_text_collapses_whitespace_and_composes_accents():
    assert clean_text("  The  kettle\n is\ton the\u00a0stove.  ") == "The kettle is on the stove."
    assert clean_text("cafe\u0301") == "caf\u00e9"


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "...", " ?! "])
def test_clean_text_refuses_text_with_nothing_to_say(text):
    with pytest.raises(TextError, match="empty"):
        clean_text(text)


def test_clean_text_refuses_text_over_the_limit_counted_after_cleaning():
    assert clean_text("x" * MAX_TEXT_CHARS) == "x" * MAX_TEXT_CHARS
    assert clean_text("a" + " " * 50 + "b", max_chars=3) == "a b"
    with pytest.raises(TextError, match="limit is 3"):
        clean_text("abcd", max_chars=3)
    with pytest.raises(TextError, match="401 characters"):
        clean_text("x" * (MAX_TEXT_CHARS + 1))


@pytest.mark.parametrize("text", [None, 5, b"The kettle.", ["The kettle."]])
def test_clean_text_refuses_what_is_not_a_string(text):
    with pytest.raises(TextError, match="must be a string"):
        clean_text(text)


def test_text_errors_are_value_errors():
    assert issubclass(TextError, ValueError)


@pytest.mark.parametrize("text", ["...", "x" * (MAX_TEXT_CHARS + 1), None])
def test_the_offline_voices_and_the_acoustic_model_refuse_the_same_text(text):
    with pytest.raises(TextError):
        synth.render_clip(text, "neutral", synth.VOICES[0], seed=0)
    with pytest.raises(TextError):
        PHONEMES.encode(text)
