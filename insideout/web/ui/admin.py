"""The admin dashboard. Every handler checks the administrator role itself: hiding the tab from other
people is a courtesy, not the lock."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from ... import stats, wav
from ...accounts import Accounts, NotAllowed, Session
from ...db import POOLS
from ...emotions import EMOTION_IDS, UnknownEmotion
from ...library import ClipError
from ...services import Services
from ...storage import StoreError
from ...tts.generate import MAX_CLIPS, GenerationError, GenerationRequest
from .common import Visit
from .plots import by_emotion_frame, by_round_frame, confusion_figure, over_time_frame
from .texts import emotion_choices, emotion_name, number, percent, t

ALL = "all"


class AdminView:
    def __init__(self, services: Services, accounts: Accounts):
        self.services = services
        self.accounts = accounts

    # -- layout --------------------------------------------------------------------------------

    def build(self, state: gr.State) -> None:
        """Components start empty: nothing of the data reaches a page before an admin asks."""
        self.state = state
        self.refresh_btn = gr.Button(t("en", "refresh"), variant="primary", elem_id="admin-refresh")
        with gr.Row():
            self.pools = gr.JSON(label=t("en", "pools"), elem_id="admin-pools")
            self.policy = gr.Markdown(elem_id="admin-policy")
        self.tallies_md = gr.Markdown(f"### {t('en', 'tallies')}")
        with gr.Row():
            self.pool = gr.Dropdown([ALL, *POOLS], value=ALL, label=t("en", "filter_pool"))
            self.tally_state = gr.Dropdown([ALL, *stats.STATES], value=ALL, label=t("en", "filter_state"))
            self.sort = gr.Dropdown(list(stats.SORTS), value="clip", label=t("en", "sort"))
        self.table = gr.Dataframe(value=None, interactive=False, max_height=360, elem_id="admin-tallies")
        with gr.Row():
            self.clip_id = gr.Number(None, label=t("en", "clip_to_play"), precision=0, minimum=1)
            self.play_btn = gr.Button(t("en", "play"))
            self.clip_audio = gr.Audio(label=t("en", "admin_clip"), interactive=False,
                                       buttons=["download"])
        self.queue_md = gr.Markdown(f"### {t('en', 'queue')}")
        self.queue = gr.Dataframe(value=None, interactive=False, max_height=240, elem_id="admin-queue")
        self.agreement = gr.Markdown(elem_id="admin-agreement")
        self.confusion = gr.Plot(label=t("en", "confusion"), format="png", elem_id="admin-confusion")
        self.pass_md = gr.Markdown(elem_id="admin-pass")
        with gr.Row():
            self.by_emotion = gr.BarPlot(x="emotion", y="pass_rate", y_lim=[0, 100], y_title="%",
                                         label=t("en", "pass_by_emotion"), elem_id="admin-by-emotion")
            self.by_round = gr.BarPlot(x="round", y="pass_rate", y_lim=[0, 100], y_title="%",
                                       label=t("en", "pass_by_round"), elem_id="admin-by-round")
        self.over_time = gr.LinePlot(x="time", y="pass_rate", color="round", y_lim=[0, 100], y_title="%",
                                     label=t("en", "pass_over_time"), elem_id="admin-over-time")
        self.export_btn = gr.Button(t("en", "export"), elem_id="admin-export")
        self.files = gr.File(label=t("en", "csv_files"), file_count="multiple", interactive=False)
        self.generate_md = gr.Markdown(t("en", "generate_title"))
        with gr.Row():
            self.gen_count = gr.Number(8, label=t("en", "generate_count"), precision=0, minimum=1,
                                       maximum=MAX_CLIPS, elem_id="admin-gen-count")
            self.gen_emotions = gr.CheckboxGroup(emotion_choices("en"), value=list(EMOTION_IDS),
                                                 label=t("en", "generate_emotions"), elem_id="admin-gen-emotions")
        with gr.Row():
            self.gen_btn = gr.Button(t("en", "generate"), variant="primary", elem_id="admin-generate")
            self.gen_cancel = gr.Button(t("en", "cancel_job"), elem_id="admin-gen-cancel")
        self.gen_status = gr.Markdown(elem_id="admin-gen-status")
        self.gen_progress = gr.Slider(0, 100, value=0, label="%", interactive=False, elem_id="admin-gen-progress")
        self.gen_timer = gr.Timer(1.0, active=False)

    @property
    def dashboard(self) -> list:
        return [self.pools, self.policy, self.table, self.queue, self.agreement, self.confusion,
                self.pass_md, self.by_emotion, self.by_round, self.over_time]

    def wire(self, tab: gr.Tab) -> None:
        filters = [self.state, self.pool, self.tally_state, self.sort]
        self.refresh_btn.click(self.refresh, filters, self.dashboard, api_name="admin_refresh")
        tab.select(self.refresh, filters, self.dashboard, api_visibility="private")
        for dropdown in (self.pool, self.tally_state, self.sort):
            dropdown.change(self.tally, filters, [self.table], api_visibility="private")
        self.play_btn.click(self.play, [self.state, self.clip_id], [self.clip_audio], api_name="admin_play")
        self.export_btn.click(self.export, [self.state], [self.files], api_name="admin_export")
        progress = [self.gen_status, self.gen_progress, self.gen_timer]
        self.gen_btn.click(self.generate, [self.state, self.gen_count, self.gen_emotions], progress,
                           api_name="admin_generate")
        self.gen_cancel.click(self.cancel_generation, [self.state], progress, api_name="admin_cancel_generation")
        self.gen_timer.tick(self.generation_status, [self.state], progress, api_visibility="private")

    def relabel(self, visit: Visit) -> dict:
        lang = visit.lang
        return {
            self.refresh_btn: gr.update(value=t(lang, "refresh")),
            self.pools: gr.update(label=t(lang, "pools")),
            self.tallies_md: f"### {t(lang, 'tallies')}",
            self.pool: gr.update(label=t(lang, "filter_pool")),
            self.tally_state: gr.update(label=t(lang, "filter_state")),
            self.sort: gr.update(label=t(lang, "sort")),
            self.clip_id: gr.update(label=t(lang, "clip_to_play")),
            self.play_btn: gr.update(value=t(lang, "play")),
            self.clip_audio: gr.update(label=t(lang, "admin_clip")),
            self.queue_md: f"### {t(lang, 'queue')}",
            self.confusion: gr.update(label=t(lang, "confusion")),
            self.by_emotion: gr.update(label=t(lang, "pass_by_emotion")),
            self.by_round: gr.update(label=t(lang, "pass_by_round")),
            self.over_time: gr.update(label=t(lang, "pass_over_time")),
            self.export_btn: gr.update(value=t(lang, "export")),
            self.files: gr.update(label=t(lang, "csv_files")),
            self.generate_md: t(lang, "generate_title"),
            self.gen_count: gr.update(label=t(lang, "generate_count")),
            self.gen_emotions: gr.update(label=t(lang, "generate_emotions"), choices=emotion_choices(lang)),
            self.gen_btn: gr.update(value=t(lang, "generate")),
            self.gen_cancel: gr.update(value=t(lang, "cancel_job")),
        }

    # -- handlers ------------------------------------------------------------------------------

    def _admin(self, visit: Visit) -> Session:
        try:
            return self.accounts.require_admin(visit.user)
        except NotAllowed:
            raise gr.Error(t(visit.lang, "admin_only"), print_exception=False) from None

    def _table(self, pool: str, state: str, sort: str) -> pd.DataFrame:
        rows = stats.tally_table(self.services.consensus, None if pool == ALL else pool,
                                 None if state == ALL else state, sort)
        return pd.DataFrame(rows, columns=stats.TALLY_COLUMNS)

    def tally(self, visit: Visit, pool: str, state: str, sort: str) -> pd.DataFrame:
        self._admin(visit)
        return self._table(pool, state, sort)

    def refresh(self, visit: Visit, pool: str, state: str, sort: str) -> list:
        self._admin(visit)
        lang, db, services = visit.lang, self.services.db, self.services
        policy = stats.policy_summary(services.captcha)
        agree = stats.agreement(db)
        rates = stats.pass_rates(db)
        queue = pd.DataFrame(stats.consensus_queue(services.consensus),
                             columns=["clip", "counted_votes", "top", "top_share", "votes_needed"])
        by_emotion = by_emotion_frame(stats.pass_rate_by_emotion(db), lang)
        return [
            stats.pool_sizes(db),
            t(lang, "policy", need=policy.rounds_to_pass, rounds=policy.max_rounds,
              choices=policy.choices, chance=percent(policy.chance_pass_probability)),
            self._table(pool, state, sort),
            queue,
            t(lang, "agreement", kappa=number(agree.fleiss_kappa, lang), kclips=agree.kappa_clips,
              kraters=agree.kappa_raters, alpha=number(agree.krippendorff_alpha, lang),
              aclips=agree.alpha_clips, avotes=agree.alpha_votes),
            confusion_figure(stats.confusion_matrix(db)),
            t(lang, "pass_overall", cpass=rates.challenges_passed, cfail=rates.challenges_failed,
              copen=rates.challenges_open, crate=percent(rates.challenge_pass_rate, lang),
              rpass=rates.rounds_passed, rans=rates.rounds_answered,
              rrate=percent(rates.round_pass_rate, lang)),
            # Keep the emotions in their canonical order rather than the plot's alphabetical one.
            gr.update(value=by_emotion, sort=[emotion_name(lang, e) for e in EMOTION_IDS]),
            by_round_frame(stats.pass_rate_by_round(db), lang),
            over_time_frame(stats.pass_rate_over_time(db), lang),
        ]

    def play(self, visit: Visit, clip_id: float | None) -> bytes | None:
        self._admin(visit)
        if clip_id is None:
            return None
        try:
            return wav.encode(self.services.library.pcm(int(clip_id)))
        except (ClipError, StoreError) as e:
            raise gr.Error(str(e), print_exception=False) from None

    def generate(self, visit: Visit, count: float | None, emotions: list[str]) -> list:
        """Queue a generation job; its progress shows below and refreshes every second."""
        self._admin(visit)
        request = GenerationRequest(int(count or 0), tuple(emotions or ()))
        try:
            self.services.start_generation(request)
        except (GenerationError, UnknownEmotion) as e:
            raise gr.Error(str(e), print_exception=False) from None
        return self.generation_status(visit)

    def cancel_generation(self, visit: Visit) -> list:
        self._admin(visit)
        job = self.services.db.latest_job("generate")
        if job is not None:
            self.services.jobs.cancel(job["id"])
        return self.generation_status(visit)

    def generation_status(self, visit: Visit) -> list:
        self._admin(visit)
        job = self.services.db.latest_job("generate")
        if job is None:
            return [t(visit.lang, "job_none"), 0, gr.Timer(active=False)]
        detail = job["error"] or ""
        if job["result"]:
            detail = f"{job['result']['made']} made, {job['result']['failed']} failed."
        text = t(visit.lang, "job_status", id=job["id"], state=job["state"], done=job["progress"],
                 total=job["total"] or "?", detail=detail)
        share = 100 * job["progress"] / job["total"] if job["total"] else 0
        running = job["state"] in ("queued", "running")
        return [text, round(share), gr.Timer(active=running)]

    def export(self, visit: Visit) -> list[str]:
        """The votes and tallies as CSV files in Gradio's temp dir, from where it serves them."""
        self._admin(visit)
        folder = Path(tempfile.mkdtemp(prefix="export-", dir=os.environ.get("GRADIO_TEMP_DIR")))
        votes = folder / "insideout-votes.csv"
        tallies = folder / "insideout-tallies.csv"
        votes.write_text(stats.votes_csv(self.services.db))
        tallies.write_text(stats.tallies_csv(self.services.consensus))
        return [str(votes), str(tallies)]
