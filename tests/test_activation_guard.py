"""Safe retraining: the activation rule on its own, then the real Retraining on a real SQLite library, where a
healthy fine-tune of a tiny model activates itself and a damaged one is held back for the admin."""

from __future__ import annotations

import json
import math
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest

from insideout.activation import GUARDED, Rendering, Tolerance, activation_verdict, rendering_of
from insideout.emotions import EMOTION_IDS
from insideout.retraining import ModelMetrics, ModelVersion, RetrainError
from insideout.tts.guide import REVISION
from tests.conftest import make_settings, tone

PARENT = ModelMetrics(held_out_clips=24, wer=0.646, emotion_accuracy=0.542, dnsmos=3.1, stopped_share=1.0,
                      mel_l1=0.573)
TOLERANCE = Tolerance()


def verdict(tolerance: Tolerance = TOLERANCE, parent: ModelMetrics = PARENT, **child):
    return activation_verdict(replace(PARENT, **child), parent, tolerance, "parent-v")


# -- the rule --------------------------------------------------------------------------------------


def test_every_tolerance_field_guards_a_metric_of_the_versions():
    assert [g.key for g in GUARDED] == [f.name for f in fields(Tolerance)]
    assert {g.key for g in GUARDED} <= {f.name for f in fields(ModelMetrics)}


def test_a_version_as_good_as_its_parent_activates_with_every_metric_compared():
    same = verdict()
    assert same.activate and same.reasons == () and same.notes == ()
    assert same.compared == ("wer", "emotion_accuracy", "dnsmos", "stopped_share", "mel_l1")
    assert same.parent_version == "parent-v"


def test_a_version_worse_by_exactly_the_tolerance_on_every_metric_still_activates():
    edge = verdict(wer=0.646 + 0.05, emotion_accuracy=0.542 - 0.0625, dnsmos=3.1 - 0.1, stopped_share=0.95,
                   mel_l1=0.573 + 0.1)
    assert edge.activate, edge.reasons


def test_better_numbers_on_every_metric_activate():
    assert verdict(wer=0.3, emotion_accuracy=0.9, dnsmos=3.8, mel_l1=0.4).activate


BEYOND = {"wer": 0.646 + 0.06, "emotion_accuracy": 0.542 - 0.0834, "dnsmos": 3.1 - 0.15, "stopped_share": 0.9166,
          "mel_l1": 0.573 + 0.12}


@pytest.mark.parametrize("guarded", GUARDED, ids=lambda g: g.key)
def test_each_metric_beyond_its_tolerance_refuses_with_a_reason_naming_it(guarded):
    refused = verdict(**{guarded.key: BEYOND[guarded.key]})
    assert not refused.activate and len(refused.reasons) == 1
    assert refused.reasons[0].startswith(f"{guarded.name} ") and "worse, more than the" in refused.reasons[0]
    assert guarded.key in refused.compared


def test_the_reason_reads_as_a_sentence_with_both_numbers_and_the_allowance():
    assert verdict(wer=0.812).reasons == (
        "WER 0.812 against the parent's 0.646: 16.6 points worse, more than the 5 allowed",)
    assert verdict(emotion_accuracy=0.417).reasons == (
        "emotion accuracy 0.417 against the parent's 0.542: 12.5 points worse, more than the 6.25 allowed",)
    assert verdict(dnsmos=2.9).reasons == (
        "DNSMOS 2.900 against the parent's 3.100: 0.200 worse, more than the 0.1 allowed",)


def test_every_failing_metric_gets_its_own_reason():
    refused = verdict(**BEYOND)
    assert not refused.activate
    assert [r.split(" ")[0] for r in refused.reasons] == ["WER", "emotion", "DNSMOS", "stop", "mel"]


def test_a_metric_missing_on_either_side_is_not_compared_and_the_verdict_says_so():
    child = replace(PARENT, dnsmos=None, wer=0.99)  # a WER this bad would refuse, were it compared
    parent = replace(PARENT, wer=None, mel_l1=None)
    both = activation_verdict(child, replace(parent, dnsmos=None), TOLERANCE)
    assert both.activate and both.compared == ("emotion_accuracy", "stopped_share")
    assert both.notes == ("WER not compared: the parent has no value",
                          "DNSMOS not compared: neither version has a value",
                          "mel L1 not compared: the parent has no value")
    only_child = activation_verdict(child, PARENT, TOLERANCE)
    assert "DNSMOS not compared: the new version has no value" in only_child.notes
    assert not only_child.activate and only_child.reasons[0].startswith("WER 0.990")


def test_nothing_to_compare_is_a_refusal_not_a_pass():
    bare = ModelMetrics(held_out_clips=24, mel_l1=1.0)
    refused = activation_verdict(bare, replace(bare, mel_l1=None), TOLERANCE)
    assert not refused.activate and refused.compared == ()
    assert refused.reasons == ("no guarded metric was measured on both versions: nothing shows the new one is "
                               "as good",)


def test_held_out_sets_of_different_sizes_refuse_as_not_comparable():
    refused = verdict(parent=replace(PARENT, held_out_clips=48))
    assert not refused.activate and refused.compared == ()
    assert refused.reasons == ("the held-out sets differ (24 clips against the parent's 48): the numbers are not "
                               "comparable",)


def test_metrics_from_before_strengths_guides_and_postfilters_were_rendered_the_default_way():
    assert rendering_of(ModelMetrics(wer=0.3)) == Rendering(1.0, "off", 0.0)
    spoken = ModelMetrics(emotion_strength=1.25, prosody_guide="pitch", mel_postfilter=0.15)
    assert rendering_of(spoken) == Rendering(1.25, "pitch", 0.15)
    assert rendering_of(spoken).difference(Rendering(1.25 + 1e-12, "pitch", 0.15)) is None  # float noise is alike
    assert "emotion strengths (1.25 against the parent's 1)" in rendering_of(spoken).difference(Rendering())
    assert Rendering().suffix(guide_revision=2) == ""  # the name files had before any of the three
    assert Rendering(1.25, "pitch+tempo", 0.15).suffix(2) == "-strength1.25-guide-pitch-tempo-r2-postfilter0.15"


def test_held_out_sets_spoken_at_different_emotion_strengths_refuse_as_not_comparable():
    assert verdict(emotion_strength=1.0).activate  # metrics from before strengths were spoken at 1
    refused = verdict(emotion_strength=1.5)
    assert not refused.activate and refused.compared == ()
    assert refused.reasons == ("the versions spoke the held-out set at different emotion strengths (1.5 against "
                               "the parent's 1): the numbers are not comparable",)


def test_held_out_sets_spoken_with_different_prosody_guides_refuse_as_not_comparable():
    assert verdict(prosody_guide="off").activate  # metrics from before the guide were spoken without one
    refused = verdict(prosody_guide="pitch+tempo")
    assert not refused.activate and refused.compared == ()
    assert refused.reasons == ("the versions spoke the held-out set with different prosody guides (pitch+tempo "
                               "against the parent's off): the numbers are not comparable",)
    assert verdict(prosody_guide="pitch", parent=replace(PARENT, prosody_guide="pitch")).activate


def test_held_out_sets_spoken_through_different_mel_postfilters_refuse_as_not_comparable():
    assert verdict(mel_postfilter=0.0).activate  # metrics from before the postfilter were spoken without one
    refused = verdict(mel_postfilter=0.15)
    assert not refused.activate and refused.compared == ()
    assert refused.reasons == ("the versions spoke the held-out set through different mel postfilters (beta 0.15 "
                               "against the parent's 0): the numbers are not comparable",)
    assert verdict(mel_postfilter=0.15, parent=replace(PARENT, mel_postfilter=0.15)).activate


def test_held_out_sets_spoken_through_different_mel_refiners_refuse_as_not_comparable():
    assert verdict(mel_refiner=None).activate  # metrics from before the refiner went through none
    assert rendering_of(ModelMetrics(mel_refiner="3850cf9b9432")) == Rendering(refiner="3850cf9b9432")
    refused = verdict(mel_refiner="3850cf9b9432")
    assert not refused.activate and refused.compared == ()
    assert refused.reasons == ("the versions spoke the held-out set through different mel refiners (3850cf9b9432 "
                               "against the parent's none): the numbers are not comparable",)
    both = replace(PARENT, mel_refiner="3850cf9b9432")
    assert verdict(mel_refiner="3850cf9b9432", parent=both).activate
    assert not verdict(mel_refiner="a1b2c3d4e5f6", parent=both).activate  # another refiner's version
    assert Rendering(1.25, "pitch", 0.15, "3850cf9b9432").suffix(2) == \
        "-strength1.25-guide-pitch-r2-postfilter0.15-refiner3850cf9b9432"


def test_a_metric_that_is_not_a_number_refuses():
    refused = verdict(mel_l1=math.nan)
    assert not refused.activate and refused.reasons == ("mel L1 is nan, not a number, against the parent's 0.573",)


def test_a_tolerance_of_none_leaves_that_metric_unguarded():
    loose = replace(TOLERANCE, wer=None)
    assert verdict(loose, wer=0.99).activate and "wer" not in verdict(loose).compared


def test_the_tolerance_defaults_allow_three_emotion_clips_of_48_and_refuse_four():
    clip = 1 / 48
    assert verdict(emotion_accuracy=0.542 - 3 * clip, stopped_share=1 - 2 * clip).activate
    assert not verdict(emotion_accuracy=0.542 - 4 * clip).activate
    assert not verdict(stopped_share=1 - 3 * clip).activate


def test_the_verdict_is_kept_and_read_back_through_the_metrics_json():
    record = verdict(wer=0.812).as_dict()
    metrics = ModelMetrics.from_dict(json.loads(json.dumps({**PARENT.as_dict(), "activation": record})))
    assert metrics.activation == record and metrics.dnsmos == 3.1
    assert record["activated"] is False and record["tolerance"]["wer"] == 0.05
    assert ModelMetrics.from_dict({"wer": 0.5}).activation == {}  # a row from before the rule


def row(model_id: int, activation: dict, active: bool = False) -> dict:
    return {"id": model_id, "version": f"v{model_id}", "parent_version": "p", "path": None, "state": "evaluated",
            "job_id": None, "trained_on": [], "metrics": {"activation": activation}, "active": active,
            "created_at": 0.0, "finished_at": 0.0}


def test_the_view_says_whether_a_version_activated_itself_or_was_held_back_and_why():
    passed = ModelVersion.from_row(row(1, verdict().as_dict(), active=True))
    assert passed.activated_automatically and not passed.held_back
    assert passed.activation_note == "activated automatically" and passed.held_back_reasons == ()
    refused = ModelVersion.from_row(row(2, verdict(wer=0.812, mel_l1=0.7).as_dict()))
    assert refused.held_back and not refused.activated_automatically and len(refused.held_back_reasons) == 2
    assert refused.activation_note == "held back: " + "; ".join(refused.held_back_reasons)
    older = ModelVersion.from_row(row(3, {}))
    assert not older.held_back and not older.activated_automatically and older.activation_note == ""


# -- the real Retraining ---------------------------------------------------------------------------

# Tiny fine-tunes on the CPU. Both start from the version that generates; the damaged one's learning rate
# is 33 times the healthy one's, which wrecks the weights in its 6 steps without overflowing the loss.
HEALTHY_LR, DAMAGING_LR = 3e-2, 1.0


def fine_tune(services, lr: float, clips: int = 2) -> dict:
    """Move clips unverified clips to learning (as a consensus would), fine-tune what generates on them, and
    wait for the end; the new version's row."""
    from insideout.tts.train import TrainConfig

    waiting = [services.db.get_clip(c) for c in services.clip_ids["unverified"]]
    for row in [r for r in waiting if r["pool"] == "unverified"][:clips]:
        clip_id = row["id"]
        assert services.library.move(clip_id, "unverified", "learning", row["intended_emotion"], "consensus")
    retraining = services.retraining
    config = TrainConfig(init_from=retraining.base_checkpoint(), batch_size=4, lr=lr, steps=6, checkpoint_every=3,
                         device="cpu")
    job = services.jobs.wait(retraining.start(config).job_id, timeout=120)
    assert job["state"] == "done", job["error"]
    return services.db.get_model(job["result"]["model_id"])


class Measured:
    """A real, cheap held-out evaluation: the checkpoint's own teacher-forced metrics (insideout.tts.train.evaluate)
    on four tones it never trained on, with the prenet's dropout seeded as evaluate_model seeds it. It records
    which checkpoints it measured."""

    def __init__(self) -> None:
        from insideout.tts.train import wave_item

        self.items = [wave_item(tone(500 + i), f"held out {i}", EMOTION_IDS[i % 8]) for i in range(4)]
        self.measured: list[Path] = []

    def __call__(self, path: Path, learning: list, cache_dir: Path) -> dict:
        import torch

        from insideout.tts.train import evaluate

        self.measured.append(Path(path))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            forced = evaluate(path, self.items, cache_dir)
        return {"held_out_clips": forced["examples"], "mel_l1": forced["mel_l1"], "gate_bce": forced["gate_bce"],
                "diagonality": forced["attention_diagonality"]}


@pytest.fixture
def settings(tmp_path: Path):
    """A deployment whose configured model (the shipped one's stand-in) is a tiny untrained checkpoint."""
    from tests.tts_fixtures import write_insideout

    return make_settings(tmp_path / "data", tts_checkpoint=str(write_insideout(tmp_path / "shipped.pt")))


@pytest.fixture
def guarded(stocked):
    stocked.retraining.replay_play_pool = False
    stocked.retraining.evaluator = Measured()
    return stocked


def test_a_healthy_fine_tune_activates_itself_and_a_damaged_one_is_held_back_for_the_admin(guarded):
    """The damage is real: the second fine-tune trains with a learning rate far too high, and the evaluator
    measures each checkpoint it is given (its teacher-forced mel L1 on held-out tones), so the rule sees what
    the training did, not a number the test chose. Training with a too-high rate is what an admin's config
    could do, and it is deterministic here (seeded training and evaluation on the CPU) and fast (6 steps of a
    tiny model); its mel L1 lands over ten times the healthy version's, far past any tolerance."""
    retraining, db = guarded.retraining, guarded.db
    shipped = guarded.settings.tts_checkpoint
    healthy = fine_tune(guarded, HEALTHY_LR)

    # No row for the configured model: it was measured once for the comparison, and the result cached.
    assert retraining.evaluator.measured == [Path(healthy["path"]), Path(shipped)]
    verdict = healthy["metrics"]["activation"]
    assert verdict["activated"] is True and verdict["reasons"] == [] and verdict["compared"] == ["mel_l1"]
    assert "WER not compared: neither version has a value" in verdict["notes"]
    assert healthy["metrics"]["mel_l1"] <= verdict["parent"]["mel_l1"] + Tolerance().mel_l1
    assert healthy["parent_version"] == verdict["parent_version"]
    assert retraining.parent_cache(verdict["parent_version"], 4).is_file()
    assert db.active_model()["id"] == healthy["id"] and retraining.active_checkpoint() == healthy["path"]
    assert "activated automatically" in db.latest_job("train")["message"]

    damaged = fine_tune(guarded, DAMAGING_LR)

    # Its parent is the healthy version, whose row has the numbers: nothing but the new checkpoint is measured.
    assert retraining.evaluator.measured[2:] == [Path(damaged["path"])]
    assert damaged["state"] == "evaluated" and damaged["parent_version"] == healthy["version"]
    assert damaged["metrics"]["mel_l1"] > 10 * healthy["metrics"]["mel_l1"]
    verdict = damaged["metrics"]["activation"]
    assert verdict["activated"] is False and verdict["parent_version"] == healthy["version"]
    assert verdict["parent"] == {"held_out_clips": 4, "mel_l1": healthy["metrics"]["mel_l1"]}
    assert len(verdict["reasons"]) == 1
    assert verdict["reasons"][0].startswith(f"mel L1 {damaged['metrics']['mel_l1']:.3f} against the parent's "
                                            f"{healthy['metrics']['mel_l1']:.3f}: ")
    assert verdict["reasons"][0].endswith("worse, more than the 0.1 allowed")
    assert db.active_model()["id"] == healthy["id"]  # what generates stays the healthy version
    assert "held back for the admin" in db.latest_job("train")["message"]
    shown = next(v for v in retraining.versions() if v.id == damaged["id"])
    assert shown.held_back and shown.activation_note == f"held back: {verdict['reasons'][0]}"
    assert {guarded.db.get_clip(i)["pool"] for i in damaged["trained_on"]} == {"play"}  # consumed all the same

    retraining.set_active(damaged["id"])  # the admin may still choose it
    assert retraining.active_checkpoint() == damaged["path"]


# -- where the parent's numbers come from ----------------------------------------------------------


class Counting:
    """A stand-in evaluator (the real one is above): fixed numbers, and the checkpoints it was asked about."""

    def __init__(self, **metrics) -> None:
        self.metrics = {"held_out_clips": 24, "wer": 0.5, "emotion_accuracy": 0.5, **metrics}
        self.asked: list[Path] = []

    def __call__(self, path: Path, learning: list, cache_dir: Path) -> dict:
        self.asked.append(Path(path))
        return dict(self.metrics)


def evaluated_row(services, version: str, path: str, **metrics) -> int:
    model_id = services.db.create_model(None, [], None, time.time())
    services.db.update_model(model_id, state="evaluated", version=version, path=path,
                             metrics=ModelMetrics(**metrics).as_dict(), finished_at=time.time())
    return model_id


def test_a_parent_without_a_row_is_evaluated_once_and_then_read_from_its_cache_file(services, tmp_path):
    retraining = services.retraining
    retraining.evaluator = Counting(wer=0.4)
    checkpoint = services.settings.tts_checkpoint
    first = retraining.parent_metrics("shipped-v", checkpoint, 24, [])
    again = retraining.parent_metrics("shipped-v", checkpoint, 24, [])
    assert first == again and first.wer == 0.4 and retraining.evaluator.asked == [Path(checkpoint)]
    cached = json.loads(retraining.parent_cache("shipped-v", 24).read_text())
    assert cached["version"] == "shipped-v" and cached["metrics"]["wer"] == 0.4
    # Another held-out size is another question: measured again.
    retraining.evaluator.metrics["held_out_clips"] = 48
    assert retraining.parent_metrics("shipped-v", checkpoint, 48, []).held_out_clips == 48
    assert len(retraining.evaluator.asked) == 2


def test_a_parent_is_measured_again_at_the_emotion_strength_its_fine_tune_was_measured_at(services):
    retraining = services.retraining
    retraining.evaluator = Counting(wer=0.4)
    evaluated_row(services, "parent-v", services.settings.tts_checkpoint, held_out_clips=24, wer=0.3)
    assert retraining.parent_metrics("parent-v", services.settings.tts_checkpoint, 24, []).wer == 0.3
    assert retraining.evaluator.asked == []
    retraining.evaluator.metrics["emotion_strength"] = 1.5
    at = retraining.parent_metrics("parent-v", services.settings.tts_checkpoint, 24, [],
                                   rendering=Rendering(strength=1.5))
    assert (at.wer, at.emotion_strength, len(retraining.evaluator.asked)) == (0.4, 1.5, 1)
    assert retraining.parent_cache("parent-v", 24, Rendering(strength=1.5)).name == "parent-v-24-strength1.5.json"
    assert retraining.parent_cache("parent-v", 24, Rendering(strength=1.5)).is_file()
    assert not retraining.parent_cache("parent-v", 24).exists()
    retraining.parent_metrics("parent-v", services.settings.tts_checkpoint, 24, [],
                              rendering=Rendering(strength=1.5))
    assert len(retraining.evaluator.asked) == 1  # read from its cache the second time


def test_a_parent_is_measured_again_with_the_prosody_guide_its_fine_tune_was_measured_with(services):
    retraining = services.retraining
    retraining.evaluator = Counting(wer=0.4)
    evaluated_row(services, "parent-v", services.settings.tts_checkpoint, held_out_clips=24, wer=0.3)
    retraining.evaluator.metrics["prosody_guide"] = "pitch+tempo"
    guided = retraining.parent_metrics("parent-v", services.settings.tts_checkpoint, 24, [],
                                     rendering=Rendering(guide="pitch+tempo"))
    assert (guided.wer, guided.prosody_guide, len(retraining.evaluator.asked)) == (0.4, "pitch+tempo", 1)
    r = f"r{REVISION}"  # a revised guide speaks differently: its measurements are kept apart
    assert retraining.parent_cache("parent-v", 24, Rendering(guide="pitch")).name == f"parent-v-24-guide-pitch-{r}.json"
    assert retraining.parent_cache("parent-v", 24, Rendering(1.25, "pitch+tempo")).name == \
        f"parent-v-24-strength1.25-guide-pitch-tempo-{r}.json"
    assert retraining.parent_metrics("parent-v", services.settings.tts_checkpoint, 24, []).wer == 0.3  # its row
    retraining.parent_metrics("parent-v", services.settings.tts_checkpoint, 24, [],
                              rendering=Rendering(guide="pitch+tempo"))
    assert len(retraining.evaluator.asked) == 1  # read from its cache the second time


def test_a_parent_is_measured_again_through_the_mel_postfilter_its_fine_tune_was_measured_through(services):
    retraining = services.retraining
    retraining.evaluator = Counting(wer=0.4)
    evaluated_row(services, "parent-v", services.settings.tts_checkpoint, held_out_clips=24, wer=0.3)  # none
    retraining.evaluator.metrics["mel_postfilter"] = 0.15
    sharp = retraining.parent_metrics("parent-v", services.settings.tts_checkpoint, 24, [],
                                      rendering=Rendering(postfilter=0.15))
    assert (sharp.wer, sharp.mel_postfilter, len(retraining.evaluator.asked)) == (0.4, 0.15, 1)
    assert retraining.parent_cache("parent-v", 24, Rendering(1.25, "pitch", 0.15)).name == \
        f"parent-v-24-strength1.25-guide-pitch-r{REVISION}-postfilter0.15.json"
    assert retraining.parent_cache("parent-v", 24, Rendering(postfilter=0.15)).name == \
        "parent-v-24-postfilter0.15.json"
    assert retraining.parent_cache("parent-v", 24, Rendering(postfilter=0.15)).is_file()
    assert retraining.parent_metrics("parent-v", services.settings.tts_checkpoint, 24, []).wer == 0.3  # its row
    retraining.parent_metrics("parent-v", services.settings.tts_checkpoint, 24, [],
                              rendering=Rendering(postfilter=0.15))
    assert len(retraining.evaluator.asked) == 1  # read from its cache the second time


def test_a_parent_with_a_row_measured_on_as_many_clips_is_not_evaluated_again(services):
    retraining = services.retraining
    retraining.evaluator = Counting()
    evaluated_row(services, "parent-v", "/nowhere.pt", held_out_clips=24, wer=0.3)
    assert retraining.parent_metrics("parent-v", "/nowhere.pt", 24, []).wer == 0.3
    assert retraining.evaluator.asked == []
    with pytest.raises(RetrainError, match="the parent version's file /nowhere.pt is gone"):
        retraining.parent_metrics("parent-v", "/nowhere.pt", 48, [])  # its row measured 24: no use


def test_a_version_that_cannot_be_compared_is_held_back_and_the_active_one_stays(services):
    retraining, db = services.retraining, services.db
    retraining.evaluator = Counting()
    before = evaluated_row(services, "before-v", services.settings.tts_checkpoint, held_out_clips=24)
    retraining.set_active(before)
    metrics = ModelMetrics(held_out_clips=24, wer=0.5, emotion_accuracy=0.5)
    cases = {
        "it was trained from scratch: there is no parent version to compare with": {"parent_version": None},
        "the parent version could not be measured (RetrainError: the parent version's file /gone.pt is gone)":
            {"parent_version": "gone-v", "init_from": "/gone.pt"},
    }
    for reason, provenance in cases.items():
        model_id = evaluated_row(services, "new-v", "/new.pt", held_out_clips=24, wer=0.5, emotion_accuracy=0.5)
        assert not retraining.guard(model_id, metrics, provenance, []).activate
        assert db.get_model(model_id)["metrics"]["activation"]["reasons"] == [reason]
        assert db.active_model()["id"] == before


def test_a_version_compared_with_a_parent_that_no_longer_generates_is_held_back(services, tmp_path):
    """The admin chose another version while it trained: what it would replace was never compared with it."""
    from tests.tts_fixtures import write_insideout

    retraining, db = services.retraining, services.db
    retraining.evaluator = Counting()
    older = str(write_insideout(tmp_path / "older.pt", seed=1))
    metrics = ModelMetrics(held_out_clips=24, wer=0.5, emotion_accuracy=0.5)
    model_id = evaluated_row(services, "new-v", "/new.pt", held_out_clips=24, wer=0.5, emotion_accuracy=0.5)
    verdict = retraining.guard(model_id, metrics, {"parent_version": "older-v", "init_from": older}, [])
    assert not verdict.activate and verdict.compared == ("wer", "emotion_accuracy")
    assert verdict.reasons == ("the version it started from (older-v) no longer generates: another was chosen "
                               "while it trained",)
    assert db.active_model() is None
    # Started from what generates, the same numbers activate it.
    verdict = retraining.guard(model_id, metrics, {"parent_version": "older-v",
                                                   "init_from": services.settings.tts_checkpoint}, [])
    assert verdict.activate and db.active_model()["id"] == model_id
