"""The defences against a recipe-trained listener in a live deployment: the real app on loopback over a small
starter library, its restock thread rendering fresh clips, and the bot lab's acoustic attacker (fitted on one
recipe sentence in the eight emotions, so it is quick) playing through the HTTP API. What each defence does to
pass rates is measured by `insideout bots evaluate` (README); these check that each one is really in the path
from the restock to the client."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from insideout import wav
from insideout.botlab.arena import Arena
from insideout.botlab.attackers.acoustic import AcousticAttacker, Recipe, render_examples
from insideout.botlab.evaluation import FRESH, RECIPE_DEFENCES_OFF, UNDEFENDED, Configuration, deployment
from insideout.corpus.starter import StarterConfig

SMALL = StarterConfig(clips_per_emotion=3, unverified_share=0.34)  # 16 play + 8 unverified


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("library-cache")


@pytest.fixture(scope="module")
def attacker() -> AcousticAttacker:
    return AcousticAttacker(seed=0, examples=render_examples(Recipe(clips_per_emotion=1, seed=0)))


def fresh(name: str, target: int, **on) -> Configuration:
    return Configuration(name, {**FRESH, **RECIPE_DEFENCES_OFF, "play_pool_target": target, **on}, fresh_only=True)


def wait_for_pool(services, clips: int, seconds: float = 240.0) -> None:
    deadline = time.time() + seconds
    while services.restock.rendered < clips:
        assert time.time() < deadline, f"the restock rendered {services.restock.rendered} of {clips} clips"
        time.sleep(0.2)


class Listening:
    """The attacker, keeping every clip it was served."""

    def __init__(self, inner: AcousticAttacker):
        self.inner, self.name, self.heard = inner, inner.name, []

    def answer(self, round):
        self.heard += list(round.audio.values())
        return self.inner.answer(round)

    def learn(self, round, answers, status) -> None:
        self.inner.learn(round, answers, status)


def lead_level_dbfs(audio: bytes) -> float:
    samples, _ = wav.decode(audio)
    lead = samples[: int(0.05 * wav.SAMPLE_RATE)].astype(np.float64)  # inside every clip's 0.15 s edge silence
    return float(10 * np.log10(np.mean(lead**2) + 1e-20))


def test_serving_noise_reaches_the_client_and_only_when_it_is_set(cache, attacker):
    levels = {}
    for snr in (0.0, 20.0):
        config = Configuration(f"noise {snr}", {**UNDEFENDED.changes, "serve_noise_snr_db": snr})
        listening = Listening(attacker)
        with deployment(config, (1, 3), SMALL, cache) as d, d.client() as http:
            Arena(http).play(listening, "198.51.100.20")
        levels[snr] = [lead_level_dbfs(audio) for audio in listening.heard]
    assert max(levels[0.0]) < -70  # dither alone, about -80 dBFS
    assert min(levels[20.0]) > -60 and max(levels[20.0]) < -35  # 20 dB below speech at about -26 dBFS


def test_the_machine_hard_restock_keeps_what_its_judge_gets_wrong_and_serves_it(cache, attacker):
    with deployment(fresh("hard", 6, machine_hard=1.0), (1, 3), SMALL, cache) as d, d.client() as http:
        wait_for_pool(d.services, 6)
        arena = Arena(http)
        for i in range(2):
            arena.play(attacker, f"198.51.100.{30 + i}")
        d.services.restock.stop()  # no candidate in flight while the counts are read
        hard = d.services.restock.accept
        judge = hard.judge
        served = [row for row in d.services.db.clips("play") if row["served"]]
        stats = d.services.restock.stats()
        trusted = judge.trusted_count()
    assert judge.fits == 1 and trusted == 24  # the starter clips, trusted by construction
    assert hard.stats.judged == stats.rendered + stats.rejected >= 6
    assert hard.stats.accepted == stats.rendered and hard.stats.rejected == stats.rejected
    assert served and all(row["source"] == "restock" for row in served)
