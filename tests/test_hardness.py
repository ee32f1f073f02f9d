"""Machine-hard controls (insideout/hardness.py) and their benchmark (insideout bench-hardness).

The judge is fitted on synthetic voices that differ clearly (a low steady tone is "sad", a high warbling
one is "happy"), so its verdict on a new tone is known in advance; the benchmark runs once end to end on
real rendered clips at the smallest size."""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import pytest

from insideout.botlab import classifier
from insideout.botlab.classifier import Example
from insideout.hardness import (
    CACHE_NAME,
    HardFilter,
    Judge,
    hard_filter,
    machine_easy,
    rank_play_clips,
    trusted_examples,
)
from insideout.library import ClipInfo

SR = 22050


def voice(emotion: str, seed: int, seconds: float = 0.8) -> np.ndarray:
    """A synthetic 'sad' (110 Hz, steady, soft) or 'happy' (260 Hz, warbling) voice, varied by seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    if emotion == "sad":
        f = 110 * (1 + 0.02 * rng.standard_normal()) * np.ones_like(t)
    else:
        f = 260 * (1 + 0.02 * rng.standard_normal()) * (1 + 0.08 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = 0.5 * np.sin(phase) + 0.2 * np.sin(2 * phase) + 0.01 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def examples(per_emotion: int = 6, seed: int = 0) -> list[Example]:
    return [Example(voice(e, seed + i * 2 + k), SR, e, f"{e}-{seed}-{i}")
            for i in range(per_emotion) for k, e in enumerate(("sad", "happy"))]


@pytest.fixture(scope="module")
def judge() -> Judge:
    fitted = Judge(examples=examples())
    fitted.classifier()
    return fitted


def test_a_clip_is_machine_easy_when_the_judge_names_its_label_with_enough_probability():
    p = {"sad": 0.7, "happy": 0.2, "calm": 0.1}
    assert machine_easy(p, "sad", 0.0)
    assert machine_easy(p, "sad", 0.7)
    assert not machine_easy(p, "sad", 0.8)  # right, but not confident enough to count as easy
    assert not machine_easy(p, "happy", 0.0)  # the judge names another emotion
    assert not machine_easy(p, "angry", 0.0)  # an emotion the judge never learnt


def test_the_filter_rejects_a_clip_the_judge_names_right_and_accepts_one_it_gets_wrong(judge):
    wave = voice("sad", 999)
    assert judge.probabilities(wave, SR)["sad"] > 0.9  # the judge hears it clearly as sad
    hard = HardFilter(judge, share=1.0)
    assert not hard(wave, SR, "sad")  # machine-easy: rejected
    assert hard(wave, SR, "happy")  # labelled happy, heard as sad: the judge gets it wrong, accepted
    assert (hard.stats.judged, hard.stats.accepted, hard.stats.rejected) == (2, 1, 1)


def test_share_zero_accepts_everything_without_fitting_a_judge():
    built = []

    def make() -> Judge:
        built.append(1)
        return Judge(examples=examples())

    off = HardFilter(make, share=0.0)
    assert off(voice("sad", 1), SR, "sad")
    assert built == []  # off means off: no judge is built, let alone fitted


def test_a_share_below_one_lets_that_share_of_easy_clips_through(judge):
    some = HardFilter(judge, share=0.5, max_tries=0, rng=random.Random(3))
    wave = voice("sad", 998)
    accepted = sum(some(wave, SR, "sad") for _ in range(40))
    assert 8 <= accepted <= 32  # about half of 40 machine-easy clips; never all, never none


def test_max_tries_caps_the_renders_one_accepted_clip_of_an_emotion_costs(judge):
    capped = HardFilter(judge, share=1.0, max_tries=3)
    wave = voice("sad", 997)
    assert [capped(wave, SR, "sad") for _ in range(6)] == [False, False, True, False, False, True]
    assert capped.stats.forced == 2


def test_the_filter_accepts_everything_while_no_judge_can_be_fitted():
    only_sad = [ex for ex in examples() if ex.emotion == "sad"]
    hard = HardFilter(Judge(examples=only_sad), share=1.0)
    assert hard(voice("sad", 5), SR, "sad")  # one emotion only: no judge, and the pool must not starve
    assert hard.stats.unjudged == 1


def add_starter(services, emotion: str, seed: int) -> int:
    return services.library.add(voice(emotion, seed), SR, "play", ClipInfo(
        source="starter", label=emotion, intended_emotion=emotion, text=f"starter {seed}"))


def add_crowd_verified(services, emotion: str, seed: int, to_pool: str = "play") -> int:
    clip_id = services.library.add(voice(emotion, seed), SR, "unverified", ClipInfo(
        source="tts", intended_emotion=emotion, text=f"crowd {seed}"))
    services.library.move(clip_id, "unverified", to_pool, emotion, "consensus")
    return clip_id


def test_the_judge_learns_starter_and_crowd_verified_clips_but_not_restocked_or_unverified_ones(services):
    add_starter(services, "sad", 1)
    add_crowd_verified(services, "happy", 2, to_pool="learning")
    services.library.add(voice("happy", 3), SR, "play", ClipInfo(source="restock", label="happy", text="r"))
    services.library.add(voice("sad", 4), SR, "unverified", ClipInfo(source="tts", intended_emotion="sad", text="u"))
    assert sorted(ex.emotion for ex in trusted_examples(services.library)) == ["happy", "sad"]


def test_the_judge_is_refitted_once_the_trusted_set_has_grown_by_a_quarter(services, tmp_path: Path):
    for i in range(8):
        add_starter(services, ("sad", "happy")[i % 2], i)
    judge = Judge(services.library, cache=tmp_path / "judge.pkl", recheck_s=0.0)
    assert judge.classifier().trained_on == 8 and judge.fits == 1
    add_crowd_verified(services, "happy", 100)  # 9 of 8: an eighth more, not yet a quarter
    assert judge.classifier().trained_on == 8 and judge.fits == 1
    add_crowd_verified(services, "sad", 101)  # 10 of 8: a quarter more
    assert judge.classifier().trained_on == 10 and judge.fits == 2


def test_a_deployments_filter_fits_its_judge_on_first_use_and_keeps_it_in_the_data_dir(services, settings):
    for i in range(8):
        add_starter(services, ("sad", "happy")[i % 2], i)
    hook = hard_filter(services.library, settings.data_dir, share=1.0)
    assert not (settings.data_dir / CACHE_NAME).exists()  # building the hook fits nothing
    assert not hook(voice("sad", 300), SR, "sad")
    assert (settings.data_dir / CACHE_NAME).is_file()


def test_the_cached_judge_is_reused_by_a_new_judge_without_fitting(tmp_path: Path):
    cache = tmp_path / "data" / "hardness-judge.pkl"
    first = Judge(examples=examples(), cache=cache)
    wave = voice("happy", 77)
    before = first.probabilities(wave, SR)
    again = Judge(examples=examples(), cache=cache)
    assert again.probabilities(wave, SR) == pytest.approx(before)
    assert (first.fits, again.fits) == (1, 0)
    assert classifier.load(cache).feature_set == first.feature_set


def test_a_cached_judge_of_another_feature_set_is_refitted(tmp_path: Path):
    cache = tmp_path / "judge.pkl"
    Judge(examples=examples(), cache=cache, feature_set="librosa").classifier()
    other = Judge(examples=examples(), cache=cache, feature_set="egemaps")
    assert other.classifier().feature_set == "egemaps" and other.fits == 1


def test_play_clips_rank_hardest_first_and_the_judges_own_clips_are_scored_out_of_fold(services):
    for i in range(10):
        add_starter(services, ("sad", "happy")[i % 2], i)
    mislabelled = services.library.add(voice("sad", 50), SR, "play", ClipInfo(
        source="restock", label="happy", text="a sad voice labelled happy"))
    plain = services.library.add(voice("happy", 51), SR, "play", ClipInfo(source="restock", label="happy", text="h"))
    ranked = rank_play_clips(Judge(services.library), services.library)
    assert len(ranked) == 12
    assert ranked[0].clip_id == mislabelled and not ranked[0].easy and ranked[0].heard == "sad"
    assert [h.p_label for h in ranked] == sorted(h.p_label for h in ranked)
    by_id = {h.clip_id: h for h in ranked}
    assert by_id[plain].easy and not by_id[plain].trusted
    assert sum(h.trusted for h in ranked) == 10  # the starter clips: out of fold


def test_the_benchmark_runs_end_to_end_at_the_smallest_size(tmp_path: Path, monkeypatch, capsys):
    from insideout.commands import bench_hardness

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # never the bot lab's own cache
    parser = argparse.ArgumentParser()
    bench_hardness.add_arguments(parser)
    out = tmp_path / "hardness.json"
    args = parser.parse_args(["--candidates-per-emotion", "1", "--judge-per-emotion", "1",
                              "--attacker-clips-per-emotion", "1", "--json", str(out)])
    assert bench_hardness.run(args, None) == 0
    printed = capsys.readouterr().out
    assert "acoustic (LR)" in printed and "share 1.00" in printed and "cues at share" in printed
    report = json.loads(out.read_text())
    assert report["candidates"] == 8
    share_one = report["judges"]["librosa"]["shares"]["1.0"]
    assert share_one["acceptance"]["n"] == 8
    assert set(share_one["cues"]) == {"calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"}
    assert not (tmp_path / "cache" / "insideout" / "adaptive-0.pkl").exists()  # a small recipe is not cached
