"""The admin dashboard's training panel: its handlers called directly on a stocked library, with a tiny
model that trains in seconds and a stand-in evaluator (the real evaluation is tested elsewhere)."""

from __future__ import annotations

import time
from dataclasses import replace

import gradio as gr
import pandas as pd
import pytest
from gradio_client.exceptions import AppError

from insideout.accounts import DEMO_PASSWORD, Session
from insideout.tts.train import TrainConfig
from insideout.web.ui import build_ui
from insideout.web.ui.common import TabState
from tests.conftest import serve
from tests.test_ui_handlers import ADMIN_PASSWORD, client_sign_in, connect, settings, sign_in  # noqa: F401
from tests.tts_fixtures import TINY

# The version's loss curve has a point per step: 6 steps give six.
TINY_CONFIG = TrainConfig(model_overrides=dict(TINY, emotion_dim=4), batch_size=4, lr=3e-3, steps=6,
                          checkpoint_every=3, device="cpu")
METRICS = {"mel_l1": 0.5, "diagonality": 0.8125, "stopped_share": 1.0, "wer": 0.25, "teacher_wer": 0.1,
           "emotion_accuracy": 0.5, "teacher_emotion_accuracy": 0.75, "dnsmos": 3.1, "teacher_dnsmos": 3.45}



@pytest.fixture
def trainable(stocked):
    stocked.retraining.base_config = TINY_CONFIG
    stocked.retraining.replay_play_pool = False
    stocked.retraining.evaluator = lambda path, items, cache_dir: dict(METRICS)
    return stocked


@pytest.fixture
def ui(trainable):
    return build_ui(trainable)


@pytest.fixture
def admin(ui, trainable) -> TabState:
    return sign_in(ui, trainable, "admin", ADMIN_PASSWORD)


def to_learning(services, n: int) -> list[int]:
    """Move n stocked unverified clips (they have a text) to the learning pool, as a consensus would."""
    ids = services.clip_ids["unverified"][:n]
    for clip_id in ids:
        row = services.db.get_clip(clip_id)
        assert services.library.move(clip_id, "unverified", "learning", row["intended_emotion"], "consensus")
    return ids


class Panel:
    """training_panel's outputs by name."""

    def __init__(self, ui, out: list):
        assert len(out) == len(ui.admin.training)
        self.status, self.share, self.losses, self.timer, self.models, self.menu, self.in_use = out

    @property
    def running(self) -> bool:
        return self.timer.active

    def row(self, model_id: int) -> dict:
        rows = self.models[self.models["id"] == model_id].to_dict("records")
        assert len(rows) == 1, self.models
        return rows[0]

    def choices(self) -> list:
        return [value for _, value in self.menu["choices"]]


def panel(ui, tab_state) -> Panel:
    return Panel(ui, ui.admin.training_panel(tab_state))


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def trained(ui, services, tab_state, clips: int = 3) -> dict:
    """Start a tiny training from the panel and wait for its end; the new model row."""
    to_learning(services, clips)
    ui.admin.start_training(tab_state)
    job = services.jobs.wait(services.db.latest_job("train")["id"], timeout=120)
    assert job["state"] == "done", job["error"]
    return services.db.get_model(job["result"]["model_id"])


# -- who may -----------------------------------------------------------------------------------


def training_calls(ui, tab_state):
    admin = ui.admin
    return [lambda: admin.start_training(tab_state), lambda: admin.cancel_training(tab_state),
            lambda: admin.use_model(tab_state, 1), lambda: admin.use_model(tab_state, "default"),
            lambda: admin.training_panel(tab_state), lambda: admin.training_status(tab_state)]


def test_the_training_panel_refuses_a_volunteer_nobody_and_a_forged_session(ui, trainable):
    to_learning(trainable, 2)
    volunteer = sign_in(ui, trainable, "alice", DEMO_PASSWORD)
    for tab_state in (volunteer, TabState(), TabState(user=Session("alice", "admin"))):
        for call in training_calls(ui, tab_state):
            with pytest.raises(gr.Error, match="administrator role"):
                call()
        # The language switch relabels the version menu for everyone, but lists versions to admins only.
        assert "choices" not in ui.admin.relabel(tab_state)[ui.admin.model_choice]
    assert trainable.db.latest_job("train") is None and trainable.db.models() == []


# -- starting, watching, cancelling ------------------------------------------------------------


def test_starting_with_an_empty_learning_pool_is_refused_with_a_message(ui, trainable, admin):
    shown = panel(ui, admin)
    assert "Learning pool: **0** clips" in shown.status and "**50** clips" in shown.status
    assert "No training yet." in shown.status and not shown.running and shown.losses.empty
    # Numeric even when empty: the plot would take object columns for categories, and keep that axis.
    assert ui.admin.loss_plot.postprocess(shown.losses).datatypes == {"step": "quantitative", "loss": "quantitative"}
    # One message in the status, in the page's language; nothing else changes, so nothing else turns red.
    status, *rest = ui.admin.start_training(admin)
    assert status == "**Training not started:** the learning pool has no clip with a text to learn from."
    assert rest == [gr.skip()] * (len(ui.admin.training) - 1)
    status, *rest = ui.admin.start_training(replace(admin, lang="ko"))
    assert status == "**학습을 시작하지 않았습니다:** 학습 풀에 배울 텍스트가 있는 음성이 없습니다."
    assert rest == [gr.skip()] * (len(ui.admin.training) - 1)
    assert trainable.db.latest_job("train") is None


def test_the_admin_trains_a_version_and_sees_it_evaluated(ui, trainable, admin):
    clips = to_learning(trainable, 3)
    assert "Learning pool: **3** clips" in panel(ui, admin).status
    started = Panel(ui, ui.admin.start_training(admin))
    job_id = trainable.db.latest_job("train")["id"]
    assert f"Training job {job_id}" in started.status and started.running
    status, *rest = ui.admin.start_training(admin)
    assert status == f"**Training not started:** training job {job_id} is already queued or running."
    assert rest == [gr.skip()] * (len(ui.admin.training) - 1)
    assert trainable.jobs.wait(job_id, timeout=120)["state"] == "done"

    shown = Panel(ui, ui.admin.training_status(admin))
    model = trainable.db.models()[0]
    assert f"Training job {job_id}: **done**" in shown.status
    assert f"Model {model['id']}, version `{model['version']}`: final loss" in shown.status
    assert "learning clips consumed: 3. Held back for the admin" in shown.status
    assert "Learning pool: **0** clips" in shown.status
    assert shown.share == 100 and not shown.running
    assert list(shown.losses.columns) == ["step", "loss"] and list(shown.losses["step"]) == [1, 2, 3, 4, 5, 6]
    assert (shown.losses["loss"] > 0).all()
    row = shown.row(model["id"])
    assert row == {
        "id": model["id"], "version": model["version"], "parent": "", "state": "evaluated",
        "clips learned": 3, "steps": "6", "final loss": f"{model['metrics']['final_loss']:.3f}",
        "WER": "25.0% (teacher 10.0%)", "emotion accuracy": "50.0% (teacher 75.0%)",
        "quality (DNSMOS, 1-5)": "3.10 (teacher 3.45)", "attention diagonality": "0.812", "active": "",
        "emotion prosody carried (share of the teacher's contrast)": "",  # this evaluator measures no prosody
        "pitch detail in the mel (harmonic ripple below 1 kHz)": "",  # nor the mels' ripple
        "finished (UTC)": row["finished (UTC)"],
        # a version trained from scratch has no parent to be compared with: the guard leaves it to the admin
        "note": "held back for the admin: it was trained from scratch: there is no parent version to compare with",
    }
    assert len(row["finished (UTC)"]) == len("2025-01-01 12:00")
    assert model["id"] in shown.choices() and "default" in shown.choices()
    assert "Generating with **the default model**" in shown.in_use
    assert {trainable.db.get_clip(i)["pool"] for i in clips} == {"play"}  # consumed by the evaluated run


def test_the_loss_plot_follows_a_running_training_and_cancel_stops_it(ui, trainable, admin):
    trainable.retraining.base_config = replace(TINY_CONFIG, steps=100_000, checkpoint_every=10)
    clips = to_learning(trainable, 2)
    ui.admin.start_training(admin)
    job_id = trainable.db.latest_job("train")["id"]
    model_id = trainable.db.models()[0]["id"]
    try:
        wait_until(lambda: len(trainable.db.get_model(model_id)["metrics"].get("losses", [])) >= 2)
        live = Panel(ui, ui.admin.training_status(admin))
    finally:
        cancelled = Panel(ui, ui.admin.cancel_training(admin))  # never left running past a failed check
    assert f"Training job {job_id}: **running**. Step " in live.status and "loss" in live.status
    assert " left." in live.status or "time left known after the next step" in live.status
    assert live.running and 0 <= live.share < 100
    assert len(live.losses) >= 2 and list(live.losses["step"][:2]) == [1, 2]
    assert live.row(model_id)["state"] == "training"
    assert live.menu == gr.skip()  # the timer leaves the version menu alone while a job runs

    # The click shows at once: cancelling until its next step stops it (a tiny step may already have).
    assert (f"Training job {job_id}: **cancelling**. It stops at its next step." in cancelled.status
            or f"Training job {job_id}: **cancelled**" in cancelled.status)
    assert cancelled.row(model_id)["state"] in ("training", "cancelled")
    assert trainable.jobs.wait(job_id, timeout=60)["state"] == "cancelled"
    shown = Panel(ui, ui.admin.training_status(admin))
    assert f"Training job {job_id}: **cancelled**" in shown.status and "Cancelled at step" in shown.status
    assert not shown.running and shown.row(model_id)["state"] == "cancelled"
    assert len(shown.losses) >= 2  # the curve of the stopped run stays to read
    assert model_id not in shown.choices()
    assert {trainable.db.get_clip(i)["pool"] for i in clips} == {"learning"}  # kept for the next run
    # Nothing runs now: a second cancel changes nothing.
    assert "**cancelled**" in Panel(ui, ui.admin.cancel_training(admin)).status


# -- choosing the version that generates -------------------------------------------------------


def test_the_admin_chooses_the_version_that_generates(ui, trainable, admin):
    model = trained(ui, trainable, admin)
    shown = Panel(ui, ui.admin.use_model(admin, model["id"]))
    assert shown.row(model["id"])["active"] == "✓ active"
    assert f"Generating with **model {model['id']}** (version `{model['version']}`)" in shown.in_use
    assert trainable.retraining.active_checkpoint() == model["path"]
    # A number typed in the menu (a string) works as well as the choice.
    assert Panel(ui, ui.admin.use_model(admin, str(model["id"]))).row(model["id"])["active"] == "✓ active"

    back = Panel(ui, ui.admin.use_model(admin, "default"))
    assert back.row(model["id"])["active"] == "" and "the default model" in back.in_use
    assert trainable.retraining.active_checkpoint() is None


def test_a_version_that_cannot_generate_is_refused(ui, trainable, admin):
    db = trainable.db
    failed = db.create_model(None, [], None, time.time())
    db.update_model(failed, state="failed", metrics={"error": "RuntimeError: evaluation broke"},
                    finished_at=time.time())
    running = db.create_model(None, [], None, time.time())
    with pytest.raises(gr.Error, match=f"Model {failed} cannot generate: it is failed"):
        ui.admin.use_model(admin, failed)
    with pytest.raises(gr.Error, match=f"Model {running} cannot generate: it is training"):
        ui.admin.use_model(admin, running)
    with pytest.raises(gr.Error, match="There is no model 999"):
        ui.admin.use_model(admin, 999)
    for bad in ("newest", "1.5", 1.5, float("inf"), float("nan"), "-1"):
        with pytest.raises(gr.Error, match="Choose a model id or the default model"):
            ui.admin.use_model(admin, bad)
    with pytest.raises(gr.Error, match="모델 999이\\(가\\) 없습니다"):
        ui.admin.use_model(replace(admin, lang="ko"), 999)
    shown = panel(ui, admin)
    assert db.active_model() is None and "the default model" in shown.in_use
    assert shown.row(failed)["note"] == "RuntimeError: evaluation broke"
    assert shown.row(failed)["WER"] == "" and shown.row(failed)["steps"] == ""  # blank, not "nan" or "n/a"
    assert shown.choices() == ["default"]


# -- the page around it ------------------------------------------------------------------------


def test_the_training_panel_speaks_korean(ui, trainable, admin):
    db = trainable.db
    model = db.create_model("parent-v", [1, 2], None, time.time())
    db.update_model(model, state="evaluated", version="v-ko", metrics={"wer": 0.5, "steps": 10})
    tab_state = replace(admin, lang="ko")
    shown = panel(ui, tab_state)
    assert "학습 풀: 음성 **0**개" in shown.status and "아직 학습 작업이 없습니다." in shown.status
    assert list(shown.models.columns)[:4] == ["id", "버전", "부모 버전", "상태"]
    assert shown.models.iloc[0]["학습한 음성"] == 2 and shown.models.iloc[0]["WER"] == "50.0%"
    assert shown.menu["choices"][0] == ("기본 모델", "default") and shown.menu["choices"][1][1] == model
    assert "**기본 모델**로 생성합니다." in shown.in_use
    relabeled = ui.admin.relabel(tab_state)
    assert relabeled[ui.admin.train_btn]["value"] == "학습 시작"
    assert relabeled[ui.admin.model_choice]["choices"][0] == ("기본 모델", "default")


def test_the_tab_and_the_refresh_button_also_refresh_the_training_panel(ui):
    chained = [fn for fn in ui.blocks.fns.values() if fn.fn == ui.admin.training_panel]
    assert len(chained) == 2  # after the refresh button and after the tab's select
    for fn in chained:
        assert [b._id for b in fn.outputs] == [b._id for b in ui.admin.training]
    assert any(fn.api_name == "admin_training" for fn in chained)
    timer = [fn for fn in ui.blocks.fns.values() if fn.fn == ui.admin.training_status]
    assert len(timer) == 1


def test_the_panel_starts_empty_in_the_page(ui):
    """Nothing of the versions reaches a page before an admin asks."""
    admin = ui.admin
    assert admin.models.value["data"] == [] and admin.train_status.value in ("", None)
    assert [value for _, value in admin.model_choice.choices] == ["default"]


# -- the launched app through gradio_client ----------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.2")
        with serve(tmp_path_factory.mktemp("training"), admin_password=ADMIN_PASSWORD) as server:
            retraining = server.services.retraining
            retraining.base_config, retraining.replay_play_pool = TINY_CONFIG, False
            retraining.evaluator = lambda path, items, cache_dir: dict(METRICS)
            server.clients = []
            yield server
            for client in server.clients:
                client.close()


ENDPOINTS = (("/admin_training", ()), ("/admin_start_training", ()), ("/admin_cancel_training", ()),
             ("/admin_use_model", ("default",)))


def test_the_training_endpoints_refuse_nobody_and_a_volunteer(live):
    jobs = live.services.db.jobs()
    volunteer, _ = client_sign_in(live, "bob", DEMO_PASSWORD)
    for client in (connect(live), volunteer):
        for name, args in ENDPOINTS:
            with pytest.raises(AppError, match="administrator role"):
                client.predict(*args, api_name=name)
    assert live.services.db.jobs() == jobs


def test_the_admin_client_trains_and_chooses_a_version(live):
    services = live.services
    to_learning(services, 2)
    client, _ = client_sign_in(live, "admin", ADMIN_PASSWORD)
    status, *_ = client.predict(api_name="/admin_training")
    assert "No training yet." in status
    client.predict(api_name="/admin_start_training")
    job = services.jobs.wait(services.db.latest_job("train")["id"], timeout=120)
    assert job["state"] == "done", job["error"]
    model_id = job["result"]["model_id"]
    status, share, losses, _, models, menu, in_use = client.predict(api_name="/admin_use_model",
                                                                    choice=model_id)
    assert "**done**" in status and share == 100 and len(losses["data"]) == 6
    table = pd.DataFrame(models["data"], columns=models["headers"])
    assert table.loc[table["id"] == model_id, "active"].tolist() == ["✓ active"]
    assert f"Generating with **model {model_id}**" in in_use
    assert services.retraining.active_checkpoint() == services.db.get_model(model_id)["path"]


def test_the_models_table_names_the_emotion_strength_and_guide_a_version_was_measured_with_in_both_languages():
    from insideout.retraining import ModelMetrics
    from insideout.web.ui.plots import _evaluation_cells

    measured = ModelMetrics(emotion_accuracy=0.5, teacher_emotion_accuracy=0.75, emotion_strength=1.5)
    assert _evaluation_cells(measured, "en")[1] == "50.0% (teacher 75.0%), strength 1.5"
    assert _evaluation_cells(measured, "ko")[1] == "50.0% (교사 75.0%), 강도 1.5"
    before = replace(measured, emotion_strength=None)  # measured before strengths: nothing to name
    assert _evaluation_cells(before, "en")[1] == "50.0% (teacher 75.0%)"
    guided = replace(measured, prosody_guide="pitch")
    assert _evaluation_cells(guided, "en")[1] == "50.0% (teacher 75.0%), strength 1.5, guide pitch"
    assert _evaluation_cells(guided, "ko")[1] == "50.0% (교사 75.0%), 강도 1.5, 운율 안내 pitch"
    assert _evaluation_cells(replace(guided, prosody_guide="off"), "en")[1] == "50.0% (teacher 75.0%), strength 1.5"


def test_the_models_table_names_the_mel_postfilter_a_versions_wer_was_measured_through_in_both_languages():
    from insideout.retraining import ModelMetrics
    from insideout.web.ui.plots import _evaluation_cells

    sharpened = ModelMetrics(wer=0.581, teacher_wer=0.589, mel_postfilter=0.15)
    assert _evaluation_cells(sharpened, "en")[0] == "58.1% (teacher 58.9%), postfilter 0.15"
    assert _evaluation_cells(sharpened, "ko")[0] == "58.1% (교사 58.9%), 멜 후처리 0.15"
    for before in (replace(sharpened, mel_postfilter=None), replace(sharpened, mel_postfilter=0.0)):
        assert _evaluation_cells(before, "en")[0] == "58.1% (teacher 58.9%)"  # none to name


def test_the_models_table_names_the_mel_refiner_a_versions_emotion_was_measured_through_in_both_languages():
    from insideout.retraining import ModelMetrics
    from insideout.web.ui.plots import _evaluation_cells

    refined = ModelMetrics(emotion_accuracy=0.625, teacher_emotion_accuracy=0.854, prosody_guide="pitch",
                           mel_refiner="3850cf9b9432")
    assert _evaluation_cells(refined, "en")[1] == "62.5% (teacher 85.4%), guide pitch, refiner 3850cf9b9432"
    assert _evaluation_cells(refined, "ko")[1] == "62.5% (교사 85.4%), 운율 안내 pitch, 멜 정제기 3850cf9b9432"
    assert _evaluation_cells(replace(refined, mel_refiner=None), "en")[1] == "62.5% (teacher 85.4%), guide pitch"


def test_the_models_table_shows_the_share_of_the_teachers_prosody_a_version_carries_per_measure():
    from insideout.retraining import ModelMetrics
    from insideout.web.ui.plots import MODEL_COLUMNS, _evaluation_cells

    shares = {"f0_st": -0.86, "f0_range_st": 0.2, "final_st": None, "energy_db": 1.23, "tempo_pct": 0.35}
    measured = ModelMetrics(prosody={"by_emotion": {}, "reproduced": shares})
    column = MODEL_COLUMNS.index("col_prosody") - MODEL_COLUMNS.index("col_wer")
    # not averaged (loudness carried and pitch the wrong way would cancel out); unmeasured ones left out
    assert _evaluation_cells(measured, "en")[column] == "F0 -0.86, range +0.20, level +1.23, tempo +0.35"
    assert _evaluation_cells(measured, "ko")[column] == "음높이 -0.86, 음역 +0.20, 세기 +1.23, 빠르기 +0.35"
    assert _evaluation_cells(ModelMetrics(), "en")[column] == ""  # a version measured before prosody was


def test_the_models_table_shows_how_much_pitch_detail_a_versions_mels_carry_beside_the_teachers():
    from insideout.retraining import ModelMetrics
    from insideout.web.ui.plots import MODEL_COLUMNS, _evaluation_cells

    measured = ModelMetrics.from_dict({"mel_ripple_db": 0.68, "teacher_mel_ripple_db": 3.43,
                                       "wer_by_voice": {"piper-joe": 0.6}}, strict=True)
    column = MODEL_COLUMNS.index("col_ripple") - MODEL_COLUMNS.index("col_wer")
    assert _evaluation_cells(measured, "en")[column] == "0.7 dB (teacher 3.4 dB)"
    assert _evaluation_cells(measured, "ko")[column] == "0.7 dB (교사 3.4 dB)"
    assert _evaluation_cells(ModelMetrics(), "en")[column] == ""  # a version measured before it was
    assert ModelMetrics.from_dict(measured.as_dict()) == measured  # stored and read back whole
