"""Training: the loop (loss, resume, mel cache), retraining jobs (consumption, cancel, failure, the
threshold), and the teacher corpus (sentences, phoneme coverage, resumable rendering). All on a tiny model."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
import torch

from insideout.corpus import teacher
from insideout.db import Vote
from insideout.emotions import EMOTION_IDS
from insideout.jobs import Cancelled
from insideout.library import ClipInfo
from insideout.retraining import RetrainError
from insideout.services import build_services
from insideout.tts import tacotron2 as t2
from insideout.tts.text import PHONEMES
from insideout.tts.train import (
    CHECKPOINT_NAME,
    MelCache,
    TrainConfig,
    TrainItem,
    items_from_folder,
    prepare,
    train,
    wave_item,
)
from tests.conftest import make_settings, tone
from tests.tts_fixtures import TINY

TINY_CONFIG = TrainConfig(model_overrides=dict(TINY, emotion_dim=4), batch_size=4, lr=3e-3, steps=6,
                          checkpoint_every=100, device="cpu")
TEXTS = ("The table stands by the window.", "Judy will wash the jug at noon.", "Is the lamp in the garage?",
         "There are three cups in the kitchen.")


@pytest.fixture(scope="module")
def items() -> list[TrainItem]:
    return [wave_item(tone(i, 0.3), TEXTS[i % 4], EMOTION_IDS[i % 8]) for i in range(6)]


def run(items, config, folder, **kwargs):
    seen: list[tuple[int, float]] = []
    result = train(items, config, folder, progress=lambda p: seen.append((p.step, p.loss)), **kwargs)
    return result, seen


# -- the loop ---------------------------------------------------------------------------------------


def test_a_few_steps_lower_the_loss(items, tmp_path):
    # One batch holding every item: the same data each step, so the loss must fall.
    result, seen = run(items, replace(TINY_CONFIG, batch_size=6, steps=8), tmp_path / "run")
    assert [s for s, _ in seen] == list(range(1, 9))
    assert seen[-1][1] < seen[0][1]
    loaded = t2.load(result.model_path)
    assert loaded.version == result.version and loaded.frontend == PHONEMES
    assert loaded.provenance["steps"] == 8 and loaded.provenance["data"]["examples"] == 6
    assert {"hardware", "seconds", "losses", "config"} <= set(loaded.provenance)


def test_the_loss_plot_draws_runs_end_to_end(items, tmp_path):
    import subprocess
    import sys

    first, _ = run(items, replace(TINY_CONFIG, steps=2), tmp_path / "first")
    second, _ = run(items, replace(TINY_CONFIG, steps=3, init_from=str(first.model_path)), tmp_path / "second")
    done = subprocess.run([sys.executable, "-m", "insideout", "plot-losses", str(first.model_path),
                           str(second.model_path), "--out", str(tmp_path / "loss.png")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "5 steps" in done.stdout and (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_resume_continues_from_the_same_step_with_the_same_result(items, tmp_path):
    uninterrupted, _ = run(items, TINY_CONFIG, tmp_path / "a")

    steps = []

    def cancel_after_step_3():
        if steps and steps[-1] == 3:  # checked before each step: this check comes after the third
            raise Cancelled()

    with pytest.raises(Cancelled):
        train(items, TINY_CONFIG, tmp_path / "b", progress=lambda p: steps.append(p.step),
              check_cancel=cancel_after_step_3)
    assert torch.load(tmp_path / "b" / CHECKPOINT_NAME, weights_only=False)["step"] == 3
    loads = []
    counted = [replace(i, load_wave=lambda i=i: (loads.append(1), i.load_wave())[1]) for i in items]
    resumed, seen = run(counted, TINY_CONFIG, tmp_path / "b")
    assert [s for s, _ in seen] == [4, 5, 6]
    assert loads == []  # the second run read every mel target from the cache
    a = torch.load(tmp_path / "a" / CHECKPOINT_NAME, weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / CHECKPOINT_NAME, weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.version == uninterrupted.version


def test_a_checkpoint_of_another_configuration_is_refused(items, tmp_path):
    run(items, replace(TINY_CONFIG, steps=2), tmp_path / "run")
    with pytest.raises(ValueError, match="another configuration"):
        run(items, replace(TINY_CONFIG, steps=4, lr=1e-4), tmp_path / "run")


def test_mel_targets_are_computed_once_and_cached(items, tmp_path):
    loads = []

    def counted(item: TrainItem) -> TrainItem:
        return replace(item, load_wave=lambda: (loads.append(1), item.load_wave())[1])

    counted_items = [counted(i) for i in items]
    first = MelCache(tmp_path / "mels")
    examples = prepare(counted_items, first, PHONEMES, 800)
    assert (first.misses, first.hits, len(loads)) == (6, 0, 6)
    second = MelCache(tmp_path / "mels")
    again = prepare(counted_items, second, PHONEMES, 800)
    assert (second.misses, second.hits, len(loads)) == (0, 6, 6)
    assert all(torch.equal(x.mel, y.mel) for x, y in zip(examples, again, strict=True))


# -- retraining in the app ----------------------------------------------------------------------------


def add_learning(services, n: int, start: int = 0) -> list[int]:
    return [services.library.add(tone(500 + start + i, 0.3), 22050, "learning",
                                 ClipInfo(source="test", label=EMOTION_IDS[i % 8], text=TEXTS[i % 4]))
            for i in range(n)]


@pytest.fixture
def retrain(services):
    services.retraining.base_config = replace(TINY_CONFIG, steps=2)
    services.retraining.replay_play_pool = False
    services.retraining.evaluator = quick_evaluator  # the held-out evaluation has its own tests
    return services


def quick_evaluator(model_path, items, cache_dir) -> dict:
    return {"wer": 0.5, "teacher_wer": 0.25}


def pools(services, clip_ids):
    return [(services.db.get_clip(i) or {}).get("pool") for i in clip_ids]


def test_a_finished_training_consumes_its_clips_exactly_once(retrain):
    clips = add_learning(retrain, 3)
    plan = retrain.retraining.start()
    later = add_learning(retrain, 1, start=10)  # arrived after the start: not learned, not consumed
    job = retrain.jobs.wait(plan.job_id, timeout=60)
    assert job["state"] == "done", job["error"]
    assert (job["progress"], job["total"]) == (2, 2)
    assert "final loss" in job["message"] and "evaluated" in job["message"]
    model = retrain.db.get_model(plan.model_id)
    assert model["state"] == "evaluated" and model["trained_on"] == clips and model["consumed_at"]
    assert [s for s, _ in model["metrics"]["losses"]] == [1, 2]  # the version's curve has every step
    assert set(model["metrics"]) >= {"wer", "teacher_wer", "final_loss", "steps"}
    assert pools(retrain, clips) == ["play"] * 3 and pools(retrain, later) == ["learning"]
    rows = [retrain.db.get_clip(i) for i in clips]
    assert [r["label"] for r in rows] == list(EMOTION_IDS[:3]) and {r["label_source"] for r in rows} == {"consensus"}
    play_before = retrain.db.pool_counts()["play"]
    assert retrain.retraining.consume(plan.model_id) == 0
    assert retrain.db.pool_counts()["play"] == play_before
    # The admin makes it the version that generates.
    retrain.retraining.set_active(plan.model_id)
    assert retrain.retraining.active_checkpoint() == model["path"]


def test_consumption_can_delete_instead(retrain):
    retrain.retraining.settings = replace(retrain.settings, consume_learning="delete")
    clips = add_learning(retrain, 2)
    plan = retrain.retraining.start()
    assert retrain.jobs.wait(plan.job_id, timeout=60)["state"] == "done"
    assert pools(retrain, clips) == [None, None]
    assert list(retrain.store.names("learning")) == []


def test_a_failed_training_consumes_nothing(retrain):
    def broken_evaluator(*_):
        raise RuntimeError("evaluation broke")

    retrain.retraining.evaluator = broken_evaluator
    clips = add_learning(retrain, 2)
    plan = retrain.retraining.start()
    job = retrain.jobs.wait(plan.job_id, timeout=60)
    assert job["state"] == "failed" and "evaluation broke" in job["error"]
    assert retrain.db.get_model(plan.model_id)["state"] == "failed"
    assert pools(retrain, clips) == ["learning", "learning"]
    with pytest.raises(RetrainError):
        retrain.retraining.consume(plan.model_id)
    with pytest.raises(RetrainError):
        retrain.retraining.set_active(plan.model_id)
    assert pools(retrain, clips) == ["learning", "learning"]


def test_a_cancelled_training_consumes_nothing(retrain):
    retrain.retraining.base_config = replace(TINY_CONFIG, steps=100_000)
    clips = add_learning(retrain, 2)
    plan = retrain.retraining.start()
    deadline = time.time() + 60
    while retrain.db.get_job(plan.job_id)["progress"] < 1:  # cancel while it trains
        assert time.time() < deadline
        time.sleep(0.05)
    assert retrain.jobs.cancel(plan.job_id)
    assert retrain.jobs.wait(plan.job_id, timeout=60)["state"] == "cancelled"
    assert retrain.db.get_model(plan.model_id)["state"] == "cancelled"
    assert pools(retrain, clips) == ["learning", "learning"]


def test_nothing_to_learn_is_refused(retrain):
    with pytest.raises(RetrainError, match="no clip"):
        retrain.start_training()


def test_the_learning_pool_threshold_starts_a_training(tmp_path):
    services = build_services(make_settings(tmp_path / "data", retrain_threshold=2, consensus_min_votes=1,
                                            ambiguous_after_votes=5))
    services.retraining.base_config = replace(TINY_CONFIG, steps=2)
    services.retraining.replay_play_pool = False
    services.retraining.evaluator = quick_evaluator
    clips = [services.library.add(tone(900 + i, 0.3), 22050, "unverified",
                                  ClipInfo(source="test", intended_emotion="sad", text=TEXTS[i])) for i in range(2)]

    def vote(clip_id):
        services.consensus.record([Vote(clip_id, "voter-1", "sad", True, "test")])

    vote(clips[0])
    assert pools(services, clips[:1]) == ["learning"] and services.db.jobs() == []
    vote(clips[1])
    jobs = services.db.jobs()
    assert [j["kind"] for j in jobs] == ["train"] and jobs[0]["params"]["reason"] == "threshold"
    assert services.jobs.wait(jobs[0]["id"], timeout=60)["state"] == "done"
    assert pools(services, clips) == ["play", "play"]


# -- the teacher corpus --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return teacher.teacher_sentences(3000)


def test_teacher_sentences_are_many_distinct_and_deterministic(sentences):
    assert len(sentences) == len(set(sentences)) == 3000
    assert teacher.teacher_sentences(3000) == sentences
    assert teacher.teacher_sentences(3000, seed=1) != sentences


def test_teacher_sentences_carry_no_emotion_word(sentences):
    used = {w for s in sentences for w in teacher.words(s)}
    assert not used & teacher.EMOTION_WORDS
    assert not used & set(EMOTION_IDS)


def test_teacher_sentences_use_every_english_phoneme(sentences):
    counts, missing = teacher.phoneme_coverage(sentences)
    assert missing == set()
    assert set(PHONEMES.symbols) >= teacher.ENGLISH_PHONEMES
    assert min(counts.values()) >= 20  # not a single lucky word each


def test_the_teacher_renderer_resumes(tmp_path, sentences):
    from insideout.corpus.synth import render_clip

    clips = teacher.plan_corpus(sentences[:10], ("espeak-m", "piper-joe"))
    assert len({(c.emotion, c.voice) for c in clips}) > 4
    rendered = []

    def render(*args):
        rendered.append(args)
        return render_clip(*args)

    def stop_after_4():
        if len(rendered) == 4:
            raise Cancelled()

    with pytest.raises(Cancelled):
        teacher.render_corpus(tmp_path / "corpus", clips, render, check_cancel=stop_after_4)
    report = teacher.render_corpus(tmp_path / "corpus", clips, render)
    assert (report.made, report.skipped, len(rendered)) == (6, 4, 10)
    items = items_from_folder(tmp_path / "corpus")
    assert [i.text for i in items] == [c.text for c in clips]
    assert items[0].load_wave().dtype.name == "float32"
