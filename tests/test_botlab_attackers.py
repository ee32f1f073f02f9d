"""The bot lab's attackers: the memory attacker's fingerprint and its learning through a real server on
loopback, and the acoustic attacker trained only on clips it rendered from the public recipe.

The memory attacker's climb is the regression guard a defence against replayed clips must flip: when the
server stops serving recognisable repeats, `test_the_memory_attacker_climbs_well_above_chance_as_clips_come_back`
is expected to fail, and should then be turned around."""

from __future__ import annotations

import ipaddress

import numpy as np
import pytest

from insideout import wav
from insideout.botlab.arena import Arena
from insideout.botlab.attackers.acoustic import (
    AcousticAttacker,
    Recipe,
    forget_fitted,
    own_sentences,
    render_examples,
    trained_classifier,
)
from insideout.botlab.attackers.memory import MATCH_THRESHOLD_DB, MemoryAttacker, distance, fingerprint, match
from insideout.botlab.classifier import rendered_starter_examples
from insideout.corpus.synth import render_clip
from insideout.sentences import held_out_sentences, load_sentences
from tests.conftest import LiveServer, build_services, make_settings, serve, tone

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"),)


def served(pcm: np.ndarray, rng: np.random.Generator) -> bytes:
    """One serving, as Captcha.audio makes it."""
    return wav.encode(wav.vary_for_serving(pcm, rng))


def clients(n: int) -> list[str]:
    return [f"198.51.100.{i + 1}" for i in range(n)]


# -- the fingerprint -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech() -> list[np.ndarray]:
    """Three starter-like clips as stored: one sentence in two emotions, and another sentence."""
    clips = [render_clip("The green chair is in the kitchen.", "neutral", "piper-joe", 3),
             render_clip("The green chair is in the kitchen.", "calm", "piper-joe", 3),
             render_clip("Nora washed the windows on Monday.", "neutral", "espeak-f", 4)]
    return [wav.to_storage(clip, wav.SAMPLE_RATE) for clip, _ in clips]


def test_two_servings_of_a_clip_have_matching_fingerprints(speech):
    rng = np.random.default_rng(0)
    for pcm in speech:
        first, again = fingerprint(served(pcm, rng)), fingerprint(served(pcm, rng))
        assert distance(first, again) < MATCH_THRESHOLD_DB / 2
        assert match(again, [fingerprint(served(other, rng)) for other in speech]) == \
            next(i for i, other in enumerate(speech) if other is pcm)


def test_different_clips_do_not_match_even_one_sentence_in_two_emotions(speech):
    rng = np.random.default_rng(1)
    prints = [fingerprint(served(pcm, rng)) for pcm in speech]
    for i in range(len(prints)):
        for j in range(i + 1, len(prints)):
            assert distance(prints[i], prints[j]) > 2 * MATCH_THRESHOLD_DB


def test_the_fingerprint_tells_apart_two_tones_that_differ_only_in_their_noise():
    # the test server's clips: tone(0) and tone(1000) have the same partials
    rng = np.random.default_rng(2)
    a, b = (wav.to_storage(tone(seed), wav.SAMPLE_RATE) for seed in (0, 1000))
    assert distance(fingerprint(served(a, rng)), fingerprint(served(b, rng))) > 2 * MATCH_THRESHOLD_DB
    assert distance(fingerprint(served(a, rng)), fingerprint(served(a, rng))) < MATCH_THRESHOLD_DB / 2


# -- the memory attacker through a real server -------------------------------------------------------


def pass_rates(played, window: int) -> tuple[float, float]:
    first, last = played[:window], played[-window:]
    return sum(p.passed for p in first) / window, sum(p.passed for p in last) / window


def test_the_memory_attacker_climbs_well_above_chance_as_clips_come_back(tmp_path):
    # 96 play clips and 4 unverified ones; eight clients in turn, so rounds with an unverified clip come
    # back too (the server gives a client each unverified clip once). Chance passes 1 - (7/8)^3 = 33 %.
    # Measured over 4 runs of 120 challenges: first 40 passed 33-45 %, last 40 70-95 %; one CI run of 150 had
    # a lucky start (first 55 %, last 65 %), so the climb is asserted against chance, not the start's luck.
    attacker = MemoryAttacker(seed=0)
    with serve(tmp_path, play=96, unverified=4, trusted_proxies=LOOPBACK) as live, live.client() as http:
        arena = Arena(http)
        names = clients(8)
        played = [arena.play(attacker, names[i % len(names)]) for i in range(150)]
    first, last = pass_rates(played, 40)
    assert attacker.rounds_to_pass == 1  # inferred from the statuses
    assert any(len(r.slots) == 2 for p in played for r in p.rounds)
    assert last >= 0.6 and last >= first and last >= 1 - (7 / 8) ** 3 + 0.2, (first, last)


def test_the_memory_attacker_counts_each_clip_it_was_served_once(tmp_path):
    attacker = MemoryAttacker(seed=0)
    with serve(tmp_path, play=16, unverified=4, trusted_proxies=LOOPBACK) as live, live.client() as http:
        arena = Arena(http)
        played = [arena.play(attacker, clients(8)[i % 8]) for i in range(40)]
        served_clips = {clip for p in played for clip in live.services.db.get_challenge(p.challenge_id).used_clip_ids}
    assert attacker.clips_known == len(served_clips)


def test_the_memory_attacker_learns_under_a_two_of_three_policy_too(tmp_path):
    # a retry does not say whether the round was right: only what the final status decides is learnt.
    # Chance passes 4.3 %. A new client each challenge, so every round has an unverified clip beside the
    # control (no decoy: see test_restock.py for what decoys and the serve budget do to this bot).
    attacker = MemoryAttacker(seed=1)
    with serve(tmp_path, play=16, unverified=4, trusted_proxies=LOOPBACK, rounds_to_pass=2,
               max_rounds=3) as live, live.client() as http:
        arena = Arena(http)
        played = [arena.play(attacker, client) for client in clients(100)]
    first, last = pass_rates(played, 30)
    assert attacker.rounds_to_pass == 2
    assert last >= 0.5 and last > first, (first, last)


# -- the acoustic attacker -----------------------------------------------------------------------------


def test_the_acoustic_attackers_sentences_are_its_own():
    sentences = own_sentences(64)
    assert len(set(sentences)) == 64
    assert not set(sentences) & set(load_sentences() + held_out_sentences())


@pytest.fixture(scope="module")
def acoustic(tmp_path_factory) -> AcousticAttacker:
    """Trained on 48 clips it rendered: six sentences of its own in the eight emotions."""
    examples = render_examples(Recipe(clips_per_emotion=6, seed=0))
    attacker = AcousticAttacker(seed=0, examples=examples, cache=tmp_path_factory.mktemp("acoustic") / "clf.pkl")
    assert attacker.classifier.trained_on == 48
    return attacker


def test_the_acoustic_attacker_names_the_emotion_of_starter_clips_above_chance(acoustic):
    # the starter library's own first clips: its sentences, voices and seeds, none of which it trained on
    starter = rendered_starter_examples(clips_per_emotion=4, seed=0)
    predicted = acoustic.classifier.predict([ex.wave for ex in starter], wav.SAMPLE_RATE)
    accuracy = np.mean([p == ex.emotion for p, ex in zip(predicted, starter, strict=True)])
    assert accuracy > 0.25  # chance: 12.5 %; measured 40.6 %


def test_the_acoustic_attacker_passes_more_often_than_chance_on_a_tiny_starter_library(tmp_path, acoustic):
    from insideout.corpus.starter import StarterConfig, build

    services = build_services(make_settings(tmp_path / "data", trusted_proxies=LOOPBACK))
    build(services.library, StarterConfig(clips_per_emotion=2, unverified_share=0.0, workers=1), progress=False)
    with LiveServer(services) as live, live.client() as http:
        played = [Arena(http).play(acoustic, client) for client in clients(24)]
    assert sum(p.passed for p in played) / len(played) > 0.5  # chance: 33 %


def test_the_acoustic_attacker_reuses_the_classifier_cached_for_its_recipe(tmp_path):
    cache = tmp_path / "clf.pkl"
    recipe = Recipe(clips_per_emotion=1, seed=3)
    fitted = trained_classifier(recipe, cache)
    fitted.cv_accuracy = -1.0  # a mark only the cached file carries
    fitted.save(cache)
    forget_fitted()  # as a new process would: only the file is left
    assert AcousticAttacker(seed=3, clips_per_emotion=1, cache=cache).classifier.cv_accuracy == -1.0
    assert trained_classifier(Recipe(clips_per_emotion=1, seed=4), cache).cv_accuracy != -1.0  # another recipe
