"""Job progress that tells the truth (issue 18, item 4): generation moves clip by clip with its total known from
the start, training reports every step with a loss curve that grows as steps arrive and a time left measured
from recent steps, a cancel stops within a step (mel targets and evaluation included) and shows at once, the
shipped default model has its row, and every job's words come in the page's language. Real SQLite files, real
tiny models, the real admin view."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from insideout.generation import SHIPPED_CHECKPOINT, GenerationRequest, generate
from insideout.jobs import GENERATE, TRAIN, Cancelled, JobContext, JobStatus
from insideout.retraining import RunProgress, checkpoint_version, evaluation_part, loss_curve
from insideout.services import build_services
from insideout.tts.train import CHECKPOINT_NAME, eta_seconds, train, wave_item
from insideout.web.ui import build_ui
from tests import tts_fixtures
from tests.conftest import make_settings, tone
from tests.test_admin_training import METRICS, TINY_CONFIG, Panel, to_learning
from tests.test_ui_handlers import ADMIN_PASSWORD, settings, sign_in  # noqa: F401

TEXTS = ("The table stands by the window.", "Judy will wash the jug at noon.", "Is the lamp in the garage?")


@pytest.fixture
def trainable(stocked):
    stocked.retraining.base_config = TINY_CONFIG
    stocked.retraining.replay_play_pool = False
    stocked.retraining.evaluator = lambda path, items, cache_dir: dict(METRICS)
    stocked.jobs.progress_interval_s = 0  # every step written: what a slow CPU's steps get anyway
    return stocked


@pytest.fixture
def ui(trainable):
    return build_ui(trainable)


@pytest.fixture
def admin(ui, trainable):
    return sign_in(ui, trainable, "admin", ADMIN_PASSWORD)


def running_job(services, kind: str, params: dict | None = None) -> JobContext:
    """A job row in the running state, its work reported by hand through the real JobContext (no worker)."""
    job_id = services.db.create_job(kind, params or {}, time.time())
    services.db.update_job(job_id, state="running", started_at=time.time())
    return JobContext(services.db, job_id, interval_s=0)


def wait_for(condition, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.01)


# -- generation ------------------------------------------------------------------------------------


def test_generation_progress_moves_clip_by_clip_with_the_total_known_before_any_clip(stocked, tmp_path):
    model = str(tts_fixtures.write_insideout(tmp_path / "tiny.pt"))
    synthesizer = stocked.generation.synthesizer(model)
    before = stocked.db.pool_counts()["unverified"]
    seen, speaking = [], []

    def progress(done: int, total: int) -> None:
        # Each report is true when made: that many clips are in the library already.
        seen.append((done, total, stocked.db.pool_counts()["unverified"] - before))

    report = generate(stocked.library, synthesizer, GenerationRequest(6, ("sad", "calm"), batch_size=4), progress,
                      speaking=lambda first, last, total: speaking.append((first, last, total)))
    assert len(report.clip_ids) == 6
    assert seen == [(done, 6, done) for done in range(7)]  # 0 first, then every clip in turn
    assert speaking == [(1, 4, 6), (5, 6, 6)]  # each batch's acoustic pass is said before it runs


def test_a_generation_jobs_total_is_on_its_row_from_the_start_and_its_clips_keep_the_plans_order(stocked, tmp_path):
    model = str(tts_fixtures.write_insideout(tmp_path / "tiny.pt"))
    job_id = stocked.generation.start(GenerationRequest(3, ("happy", "sad", "angry"), batch_size=2), model)
    assert stocked.db.get_job(job_id)["total"] == 3  # never "0 / ?": known before the job runs
    job = stocked.jobs.wait(job_id, timeout=120)
    assert job["state"] == "done" and (job["progress"], job["total"]) == (3, 3)
    assert job["message"] == "3 / 3 clips" and job["detail"] == {"stage": "gen_clips"}
    rows = [stocked.db.get_clip(i) for i in job["result"]["clip_ids"]]
    assert [r["intended_emotion"] for r in rows] == ["happy", "sad", "angry"]


# -- training ------------------------------------------------------------------------------------


def test_the_time_left_is_the_median_of_recent_steps_without_the_slow_first_one():
    assert eta_seconds([50.0, 2.0, 2.0, 2.0], remaining=10) == 20.0  # the average would say 140
    assert eta_seconds([50.0, 2.0, 9.0, 2.0, 2.0], remaining=10) == 20.0  # a stray slow step does not sway it
    assert eta_seconds([50.0], remaining=10) == 500.0  # all there is after one step (the page waits for two)
    assert eta_seconds([], remaining=10) == 0.0 and eta_seconds([3.0, 3.0], remaining=0) == 0.0
    # Only the recent steps count: a run that sped up says so.
    assert eta_seconds([50.0] + [4.0] * 30 + [1.0] * 20, remaining=100) == 100.0


def test_a_long_curve_is_thinned_to_means_of_consecutive_steps():
    points = [(step, float(step)) for step in range(1, 11)]
    assert loss_curve(points, limit=10) == points
    assert loss_curve(points, limit=5) == [(2, 1.5), (4, 3.5), (6, 5.5), (8, 7.5), (10, 9.5)]
    assert len(loss_curve([(s, 1.0) for s in range(1, 2001)])) == 1000


def test_training_reports_every_step_and_its_loss_curve_grows_as_the_steps_arrive(ui, trainable, admin):
    trainable.retraining.base_config = replace(TINY_CONFIG, steps=12, checkpoint_every=100)
    to_learning(trainable, 3)
    ui.admin.start_training(admin)
    job_id = trainable.db.latest_job("train")["id"]
    model_id = trainable.db.models()[0]["id"]
    steps, curves = set(), set()
    while trainable.db.get_job(job_id)["state"] in ("queued", "running"):
        detail = trainable.db.get_job(job_id)["detail"] or {}
        curve = trainable.db.get_model(model_id)["metrics"].get("losses") or []
        if detail.get("stage") == "train_step":
            steps.add(detail["step"])
            assert set(detail) == {"stage", "step", "steps", "loss", "eta_s"} and detail["steps"] == 12
        if curve:
            assert [s for s, _ in curve] == list(range(1, len(curve) + 1))  # a point per step, none missing
            curves.add(len(curve))
        time.sleep(0.001)
    assert trainable.db.get_job(job_id)["state"] == "done"
    assert {s for s in steps if 0 < s < 12} and {n for n in curves if 0 < n < 12}  # seen while it ran
    assert [s for s, _ in trainable.db.get_model(model_id)["metrics"]["losses"]] == list(range(1, 13))


def test_a_cancel_during_the_mel_targets_stops_before_the_next_clip(services, tmp_path):
    ctx = running_job(services, TRAIN)
    items = [wave_item(tone(i, 0.3), TEXTS[i % 3], "sad") for i in range(6)]
    prepared = []

    def preparing(done: int, total: int) -> None:
        prepared.append(done)
        if done == 2:
            services.jobs.cancel(ctx.job_id)  # the admin's click, while the third target waits

    with pytest.raises(Cancelled):
        train(items, TINY_CONFIG, tmp_path / "run", preparing=preparing, check_cancel=ctx.check_cancel)
    assert prepared == [1, 2] and not (tmp_path / "run" / CHECKPOINT_NAME).exists()


def test_a_cancel_during_training_stops_within_a_step_and_shows_at_once(ui, trainable, admin):
    trainable.retraining.base_config = replace(TINY_CONFIG, steps=100_000, checkpoint_every=100_000)
    clips = to_learning(trainable, 2)
    ui.admin.start_training(admin)
    job_id = trainable.db.latest_job("train")["id"]
    try:
        wait_for(lambda: trainable.db.get_job(job_id)["progress"] >= 3)
    finally:
        assert trainable.jobs.cancel(job_id)
    reached = trainable.db.get_job(job_id)["progress"]
    job = trainable.jobs.wait(job_id, timeout=60)
    assert job["state"] == "cancelled" and job["progress"] <= reached + 1  # at most the step in flight
    shown = Panel(ui, ui.admin.training_status(admin))
    assert f"**cancelled**. Cancelled at step {job['progress']} / 100000." in shown.status
    assert {trainable.db.get_clip(i)["pool"] for i in clips} == {"learning"}


def test_the_panel_says_cancelling_as_soon_as_the_cancel_is_clicked(ui, trainable, admin):
    ctx = running_job(trainable, TRAIN)  # a job between two steps: no worker will stop it here
    ctx.progress(4, 2000, "step 4 / 2000", stage="train_step", step=4, steps=2000, loss=1.5, eta_s=None)
    shown = Panel(ui, ui.admin.cancel_training(admin))
    assert (f"Training job {ctx.job_id}: **cancelling**. It stops at its next step. Step 4 / 2000, loss 1.500, "
            f"time left known after the next step." in shown.status)
    assert shown.running and shown.share == 0.2  # 4 of 2000 steps shows, not 0
    with pytest.raises(Cancelled):
        ctx.check_cancel()


def test_an_evaluation_stops_between_its_parts_when_cancelled(trainable):
    ctx = running_job(trainable, TRAIN)
    run = RunProgress(ctx, 10, lambda curve: None)
    run.evaluating_version(10)
    run.evaluating("speaking held-out sentences 1-8 of 48")
    assert trainable.db.get_job(ctx.job_id)["detail"] == {"stage": "train_evaluate", "target": "version",
                                                          "part": "speaking", "first": 1, "last": 8, "of": 48}
    trainable.jobs.cancel(ctx.job_id)
    with pytest.raises(Cancelled):
        run.evaluating("speaking held-out sentences 9-16 of 48")


def test_the_evaluations_own_words_become_parts_a_page_can_translate():
    assert evaluation_part("recognizing speech") == {"part": "asr"}
    assert evaluation_part("speaking held-out sentences 41-48 of 48") == {"part": "speaking", "first": 41,
                                                                          "last": 48, "of": 48}
    assert evaluation_part("something new") == {"part": None}


# -- refusals ----------------------------------------------------------------------------------------


def test_a_refused_start_is_one_message_and_nothing_else_changes(ui, trainable, admin):
    import gradio as gr

    for lang, said in (("en", "**Training not started:** the learning pool has no clip with a text to learn from."),
                       ("ko", "**학습을 시작하지 않았습니다:** 학습 풀에 배울 텍스트가 있는 음성이 없습니다.")):
        out = ui.admin.start_training(replace(admin, lang=lang))
        assert out == [said] + [gr.skip()] * (len(ui.admin.training) - 1)
    assert trainable.db.latest_job("train") is None


# -- the shipped default's row -----------------------------------------------------------------------


def test_the_models_table_has_the_shipped_defaults_row_with_its_version_and_its_eval_reports_metrics(ui, trainable,
                                                                                                     admin):
    version = checkpoint_version(SHIPPED_CHECKPOINT)
    assert version and len(version) == 12
    report = json.loads(SHIPPED_CHECKPOINT.with_suffix(".eval.json").read_text())  # the model card's numbers
    assert report["version"] == version and report["held_out_clips"] == 48
    row = Panel(ui, ui.admin.training_panel(admin)).models.iloc[-1].to_dict()
    assert row["id"] == "default" and row["version"] == version and row["state"] == "shipped"
    assert row["active"] == "✓ active"
    assert row["WER"] == f"{report['wer']:.1%} (teacher {report['teacher_wer']:.1%}), " \
                         f"postfilter {report['mel_postfilter']:g}"  # the mel postfilter it was measured through
    assert row["emotion accuracy"].startswith(f"{report['emotion_accuracy']:.1%}")
    # as measured: at the emotion strength, with the guide, through the refiner it names
    assert row["emotion accuracy"].endswith(f", strength 1.25, guide {report['prosody_guide']}, "
                                            f"refiner {report['mel_refiner']}")
    level = report["prosody"]["reproduced"]["energy_db"]
    assert f"level {level:+.2f}" in row["emotion prosody carried (share of the teacher's contrast)"]
    assert row["pitch detail in the mel (harmonic ripple below 1 kHz)"] == \
        f"{report['mel_ripple_db']:.1f} dB (teacher {report['teacher_mel_ripple_db']:.1f} dB)"
    assert "tacotron2-emotion.pt" in row["note"] and "as `insideout eval` measured them" in row["note"]

    # The activation guard measures it as a parent once: its numbers then show in its row.
    trainable.retraining.evaluator = lambda path, items, cache_dir: {"held_out_clips": 24, "wer": 0.646,
                                                                     "teacher_wer": 0.1, "diagonality": 0.9}
    trainable.retraining.parent_metrics(version, str(SHIPPED_CHECKPOINT), 24, [])
    shown = Panel(ui, ui.admin.training_panel(replace(admin, lang="ko")))
    row = shown.models.iloc[-1].to_dict()
    assert row["id"] == "기본" and row["상태"] == "기본 제공" and row["WER"] == "64.6% (교사 10.0%)"
    assert row["어텐션 대각성"] == "0.900" and row["사용 중"] == "✓ 사용 중"


def test_the_defaults_row_is_not_active_while_a_trained_version_generates(ui, trainable, admin):
    model_id = trainable.db.create_model(None, [], None, time.time())
    path = tts_fixtures.write_insideout(trainable.settings.data_dir / "v.pt")
    trainable.db.update_model(model_id, state="evaluated", version="v-test", path=str(path))
    trainable.retraining.set_active(model_id)
    shown = Panel(ui, ui.admin.training_panel(admin))
    assert shown.row(model_id)["active"] == "✓ active" and shown.models.iloc[-1]["active"] == ""


def test_an_eval_report_of_another_version_is_not_shown_as_the_defaults(trainable, tmp_path, monkeypatch):
    path = tts_fixtures.write_insideout(tmp_path / "mine.pt")
    version = checkpoint_version(path)
    report = {"version": "someone-else", "held_out_clips": 48, "wer": 0.5, "teacher_wer": 0.5}
    path.with_suffix(".eval.json").write_text(json.dumps(report))
    monkeypatch.setattr(trainable.retraining, "settings", replace(trainable.retraining.settings,
                                                                  tts_checkpoint=str(path)))
    default = trainable.retraining.default_model()
    assert (default.version, default.metrics, default.measured_by, default.shipped) == (version, None, "", False)
    path.with_suffix(".eval.json").write_text(json.dumps({**report, "version": version}))
    default = trainable.retraining.default_model()
    assert default.measured_by == "eval" and default.metrics.wer == 0.5
    path.with_suffix(".eval.json").write_text("{broken")
    assert trainable.retraining.default_model().metrics is None


def test_a_checkpoint_that_cannot_say_its_version_gives_none(tmp_path):
    (tmp_path / "not-a-zip.pt").write_bytes(b"garbage")
    assert checkpoint_version(tmp_path / "not-a-zip.pt") is None
    assert checkpoint_version(tmp_path / "missing.pt") is None
    assert checkpoint_version(tts_fixtures.write_nvidia(tmp_path / "nvidia.pt")) is None  # no version recorded


# -- in the page's language ------------------------------------------------------------------------------


def test_job_messages_and_states_render_in_korean(ui, trainable, admin):
    korean = replace(admin, lang="ko")
    train = running_job(trainable, TRAIN)
    train.progress(4, 2000, "step 4 / 2000", stage="train_step", step=4, steps=2000, loss=0.1234, eta_s=5400.0)
    status = Panel(ui, ui.admin.training_status(korean)).status
    assert f"학습 작업 {train.job_id}: **실행 중**. 2000단계 중 4단계, 손실 0.123, 남은 시간 약 1시간 30분." in status
    train.progress(0, 2000, "computing mel targets", stage="train_prepare", prepared=3, clips=12)
    assert "멜 타깃 계산 중: 음성 12개 중 3개." in Panel(ui, ui.admin.training_status(korean)).status
    train.progress(0, 2000, "mel targets ready", stage="train_start", clips=12, steps=2000)
    assert "2000단계 중 첫 단계를 실행하는 중입니다." in Panel(ui, ui.admin.training_status(korean)).status
    train.progress(2000, 2000, "evaluating", stage="train_evaluate", target="parent", part="asr")
    assert "비교할 부모 버전 평가 중: 음성 인식 중." in Panel(ui, ui.admin.training_status(korean)).status

    generation = running_job(trainable, GENERATE)
    generation.progress(2, 10, "2 / 10 clips; speaking clips 3-6", stage="gen_speak", first=3, last=6)
    text, share, _ = ui.admin.generation_status(korean)
    assert text == (f"생성 작업 {generation.job_id}: **실행 중**. 음성 10개 중 2개 완료. "
                    f"음향 모델이 3~6번 음성을 읽는 중입니다.") and share == 20
    trainable.db.update_job(generation.job_id, state="cancelled")
    assert ui.admin.generation_status(korean)[0].endswith("**취소됨**. 음성 10개 중 2개를 처리한 뒤 취소되었습니다.")


def test_every_job_state_and_stage_has_words_in_both_languages():
    from insideout.db import JOB_STATES
    from insideout.web.ui.texts import TEXTS

    for state in (*JOB_STATES, "cancelling"):
        assert set(TEXTS[f"job_state_{state}"]) == {"en", "ko"}
    stages = ("gen_load", "gen_speak", "gen_clips", "train_prepare", "train_start", "train_step", "train_evaluate",
              "train_finished", "bots_start", "bots_cell")
    for stage in stages:
        assert set(TEXTS[f"stage_{stage}"]) == {"en", "ko"}


# -- the row on both metadata backends ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "dynamodb"], indirect=True)
def test_a_jobs_structured_progress_is_kept_on_either_backend(backend, tmp_path):
    services = build_services(make_settings(tmp_path / "data"))
    ctx = running_job(services, TRAIN)
    ctx.progress(1, 5, "step 1 / 5", stage="train_step", step=1, steps=5, loss=0.5, eta_s=None)
    row = services.db.get_job(ctx.job_id)
    assert row["detail"] == {"stage": "train_step", "step": 1, "steps": 5, "loss": 0.5, "eta_s": None}
    status = JobStatus.from_row(row)
    assert (status.stage, status.values["loss"], status.message) == ("train_step", 0.5, "step 1 / 5")
    ctx.progress(2, 5, "no stage")
    assert services.db.get_job(ctx.job_id)["detail"] is None  # a report without a stage leaves none behind
