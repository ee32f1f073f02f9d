"""Adversarial perturbation of served audio (insideout/adversarial.py) and its benchmark
(insideout/commands/bench_adversarial.py), on clips the real synthesizer renders."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from insideout import adversarial
from insideout.botlab.classifier import Example
from insideout.cli import CommandError
from insideout.commands import bench_adversarial
from insideout.corpus.synth import available_voices, render_clip
from insideout.emotions import EMOTION_IDS
from insideout.library import ClipInfo
from insideout.wav import SAMPLE_RATE, resample


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # as the restocker runs it: one core. Two torch threads on two shared cores spin against each other.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


SENTENCES = ("The garden gate was open all morning.", "We walked home along the river after dinner.")


@pytest.fixture(scope="module")
def clips() -> list[Example]:
    voices = available_voices()
    out = []
    for i, sentence in enumerate(SENTENCES):
        for e, emotion in enumerate(EMOTION_IDS):
            wave, provenance = render_clip(sentence, emotion, voices[(i + e) % len(voices)], 900 + i)
            out.append(Example(wave, int(provenance.get("sample_rate", SAMPLE_RATE)), emotion, sentence))
    return out


@pytest.fixture(scope="module")
def surrogate(clips: list[Example]) -> adversarial.Surrogate:
    return adversarial.fit_surrogate(clips, epochs=30, seed=0)


def least_sure_right(clips: list[Example], surrogate: adversarial.Surrogate) -> tuple[Example, float]:
    """Of the clips the surrogate names right, the one it is least sure of, and its probability of the truth
    (a clip it is 99.9 % sure of may need more than 20 dB to turn)."""
    proba = surrogate.predict_proba([ex.wave for ex in clips])
    right = [(float(proba[i, EMOTION_IDS.index(ex.emotion)]), i) for i, ex in enumerate(clips)
             if EMOTION_IDS[int(proba[i].argmax())] == ex.emotion]
    truth, i = min(right)
    return clips[i], truth


def test_the_surrogate_learns_the_clips_it_was_fitted_on(clips, surrogate):
    proba = surrogate.predict_proba([ex.wave for ex in clips])
    assert proba.shape == (len(clips), len(EMOTION_IDS))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert surrogate.meta["trained_on"] == len(clips)
    assert surrogate.meta["train_accuracy"] >= 0.5  # chance is 1/8
    assert sum(p.numel() for p in surrogate.parameters()) < 100_000  # a few hundred KB at most


@pytest.mark.parametrize("snr_db", [10.0, 20.0, 30.0])
def test_a_perturbed_clip_stays_within_its_snr_bound(clips, surrogate, snr_db):
    ex = clips[3]
    out = adversarial.perturb(ex.wave, ex.sample_rate, ex.emotion, surrogate, snr_db, 8, np.random.default_rng(0))
    achieved = adversarial.snr_db(ex.wave, out)
    assert snr_db - 1e-3 <= achieved < snr_db + 3  # within the bound, and using most of it
    assert out.shape == ex.wave.shape and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= 1.0


def test_a_perturbation_hides_under_the_speech_not_in_its_pauses(clips, surrogate):
    ex = clips[5]
    delta = adversarial.perturb(ex.wave, ex.sample_rate, ex.emotion, surrogate, 20.0, 8,
                                np.random.default_rng(1)) - ex.wave
    lead = int(0.08 * ex.sample_rate)  # synth.py leaves 0.15 s of silence before the speech
    speech = ex.wave[ex.wave.size // 3: 2 * ex.wave.size // 3]
    assert np.sqrt(np.mean(delta[:lead] ** 2)) < 0.01 * np.sqrt(np.mean(speech ** 2))


def test_perturb_is_deterministic_given_its_rng(clips, surrogate):
    ex = clips[0]
    first, again, other = (adversarial.perturb(ex.wave, ex.sample_rate, ex.emotion, surrogate, 20.0, 5,
                                               np.random.default_rng(seed)) for seed in (7, 7, 8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_a_perturbation_lowers_the_surrogates_belief_in_the_true_emotion(clips, surrogate):
    ex, before = least_sure_right(clips, surrogate)
    assert surrogate.predict([ex.wave])[0] == ex.emotion
    out = adversarial.perturb(ex.wave, ex.sample_rate, ex.emotion, surrogate, 20.0, 20, np.random.default_rng(2))
    after = surrogate.predict_proba([out])[0, EMOTION_IDS.index(ex.emotion)]
    assert after < before - 0.2


def test_perturb_keeps_the_length_of_a_clip_at_another_sample_rate(clips, surrogate):
    ex = clips[9]
    wave = resample(ex.wave.astype(np.float64), ex.sample_rate, 16_000).astype(np.float32)
    out = adversarial.perturb(wave, 16_000, ex.emotion, surrogate, 20.0, 5, np.random.default_rng(3))
    assert out.shape == wave.shape and np.all(np.isfinite(out))
    assert adversarial.snr_db(wave, out) >= 20.0 - 1e-3


def test_an_unknown_emotion_is_refused(clips, surrogate):
    with pytest.raises(ValueError, match="unknown emotion"):
        adversarial.perturb(clips[0].wave, SAMPLE_RATE, "bored", surrogate, 20.0, 5, np.random.default_rng(0))


def test_shaped_noise_sits_at_the_snr_it_was_asked_for(clips):
    ex = clips[2]
    out = adversarial.shaped_noise(ex.wave, ex.sample_rate, 20.0, np.random.default_rng(0))
    assert 20.0 - 1e-3 <= adversarial.snr_db(ex.wave, out) < 20.5


def test_a_saved_surrogate_loads_back_with_the_same_outputs(clips, surrogate, tmp_path):
    adversarial.save_surrogate(surrogate, tmp_path / "surrogate")
    meta = json.loads((tmp_path / "surrogate.json").read_text())
    assert meta["format"] == adversarial.FORMAT and meta["trained_on"] == len(clips)
    assert (tmp_path / "surrogate.pt").stat().st_size < 400_000
    loaded = adversarial.load_surrogate(tmp_path / "surrogate.pt")
    waves = [ex.wave for ex in clips[:4]]
    np.testing.assert_allclose(loaded.predict_proba(waves), surrogate.predict_proba(waves), atol=1e-6)
    assert loaded.meta["fingerprint"] == surrogate.meta["fingerprint"]


def test_a_file_that_is_not_a_surrogate_is_refused(surrogate, tmp_path):
    adversarial.save_surrogate(surrogate, tmp_path / "s")
    (tmp_path / "s.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not an InsideOut surrogate"):
        adversarial.load_surrogate(tmp_path / "s")


def test_the_perturber_is_a_restock_transform_with_secret_or_seeded_draws(clips, surrogate):
    ex = clips[4]
    out = adversarial.Perturber(surrogate, snr_db=25.0, steps=4, seed=11)(ex.wave, ex.sample_rate, ex.emotion)
    again = adversarial.Perturber(surrogate, snr_db=25.0, steps=4, seed=11)(ex.wave, ex.sample_rate, ex.emotion)
    secret = adversarial.Perturber(surrogate, snr_db=25.0, steps=4)(ex.wave, ex.sample_rate, ex.emotion)
    np.testing.assert_array_equal(out, again)
    assert not np.array_equal(out, secret)
    assert out.shape == ex.wave.shape and adversarial.snr_db(ex.wave, out) >= 25.0 - 1e-3


def test_the_deployments_surrogate_is_fitted_once_and_refitted_when_its_trusted_clips_grow(
        clips, services, tmp_path, monkeypatch):
    fits = []
    real_fit = adversarial.fit_surrogate

    def counted_fit(examples, **kwargs):
        fits.append(len(examples))
        return real_fit(examples, epochs=2, seed=0)

    monkeypatch.setattr(adversarial, "fit_surrogate", counted_fit)

    def add(examples):
        for ex in examples:
            services.library.add(ex.wave, ex.sample_rate, "play", ClipInfo(
                source="starter", label=ex.emotion, intended_emotion=ex.emotion, text=ex.group))

    cache = tmp_path / "cache" / "surrogate"
    add(clips[:12])
    services.library.add(clips[12].wave, SAMPLE_RATE, "play", ClipInfo(source="restock", label=clips[12].emotion))
    adversarial.surrogate_for(services.library, cache)
    assert fits == [12]  # the restocked clip is not trusted: it may carry a perturbation
    assert (tmp_path / "cache" / "surrogate.pt").is_file()
    add(clips[13:15])  # 14 of 12: under 25 % more
    assert adversarial.surrogate_for(services.library, cache).meta["trained_on"] == 12
    assert fits == [12]
    add(clips[15:16])  # 15 of 12: 25 % more
    assert adversarial.surrogate_for(services.library, cache).meta["trained_on"] == 15
    assert fits == [12, 15]


def test_the_benchmark_refuses_counts_below_one():
    parser = argparse.ArgumentParser()
    bench_adversarial.add_arguments(parser)
    with pytest.raises(CommandError):
        bench_adversarial.run(parser.parse_args(["--clips-per-emotion", "0"]), None)


def test_the_benchmark_runs_end_to_end_at_a_tiny_size(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    bench_adversarial.add_arguments(parser)
    out = tmp_path / "bench.json"
    args = parser.parse_args(["--clips-per-emotion", "1", "--trusted-clips-per-emotion", "1",
                              "--attacker-clips-per-emotion", "1", "--acoustic-clips-per-emotion", "1",
                              "--acoustic-cache", str(tmp_path / "acoustic.pkl"), "--epochs", "2",
                              "--steps", "2", "--snr-db", "20", "--json", str(out)])
    assert bench_adversarial.run(args, None) == 0
    printed = capsys.readouterr().out
    for line in ("SNR achieved", "CPU per clip", "surrogate (white box)", "acoustic attacker",
                 "retrained on clean + perturbed", "cue change"):
        assert line in printed
    results = json.loads(out.read_text())
    assert results["perturbation"]["clips"] == len(EMOTION_IDS)
    assert results["perturbation"]["snr_db"]["min"] >= 20.0 - 1e-3
    for row in results["accuracy"].values():
        for copy in ("clean", "perturbed", "noise"):
            assert row[copy]["n"] == len(EMOTION_IDS) and row[copy]["low"] <= row[copy]["accuracy"] <= row[copy]["high"]
    assert set(results["cue_change"]["all"]) == set(bench_adversarial.CUES)
