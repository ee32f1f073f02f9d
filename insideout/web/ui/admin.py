"""The admin dashboard. Every handler checks the administrator role itself: hiding the tab from other
people is a courtesy, not the lock."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import gradio as gr
import pandas as pd

from ... import research, stats, wav
from ...accounts import NotAllowed, Session
from ...botlab.attackers import ATTACKERS
from ...db import JOB_CANCELLED, JOB_DONE, JOB_FAILED, JOB_QUEUED
from ...emotions import EMOTION_IDS
from ...generation import MAX_CLIPS, ROTATE, GenerationError, GenerationRequest
from ...jobs import BOT_EVALUATION, GENERATE, TRAIN, JobRefused, JobStatus
from ...library import ClipError
from ...retraining import RetrainError, TrainingStatus, VersionRefused
from ...services import Services
from ...sites import Site
from ...storage import StoreError
from .common import TabState
from .dashboard import (
    ALL,
    COUNTS,
    SHARES,
    TABLE_ROWS,
    agreement_markdown,
    confusion_choices,
    ds_frames,
    first_rows,
    pool_choices,
    queue_frame,
    sort_choices,
    state_choices,
    summary_markdown,
    tally_frame,
)
from .plots import (
    by_emotion_chart,
    by_round_chart,
    confusion_chart,
    loss_frame,
    models_frame,
    over_time_chart,
)
from .texts import emotion_choices, number, percent, t, voice_choices

DEFAULT_MODEL = "default"  # the version choice that means: no trained version, the configured default


class AdminView:
    def __init__(self, services: Services):
        self.services = services
        self.accounts = services.accounts
        self.board = services.dashboard

    # -- layout --------------------------------------------------------------------------------

    def build(self, state: gr.State) -> None:
        """Components start empty: nothing of the data reaches a page before an admin asks."""
        self.state = state
        self.refresh_btn = gr.Button(t("en", "refresh"), variant="primary", elem_id="admin-refresh")
        self.summary = gr.Markdown(elem_id="admin-summary")
        # The jobs' timers live outside the sections: a job's progress refreshes whichever section is open.
        self.gen_timer = gr.Timer(1.0, active=False)
        self.train_timer = gr.Timer(1.0, active=False)
        self.bots_timer = gr.Timer(1.0, active=False)
        # Sections, so that the admin's first look mounts the dashboard alone; the others mount when opened.
        with gr.Tabs(elem_id="admin-sections"):
            with gr.Tab(t("en", "section_dashboard"), id="admin-dashboard-section") as self.dashboard_section:
                self._build_dashboard()
            with gr.Tab(t("en", "section_models"), id="admin-models-section") as self.models_section:
                self._build_models()
            with gr.Tab(t("en", "section_bots"), id="admin-bots-section") as self.bots_section:
                self._build_bot_lab()
            with gr.Tab(t("en", "section_sites"), id="admin-sites-section") as self.sites_section:
                self._build_sites()

    def _build_dashboard(self) -> None:
        """The crowd's numbers: tallies, the consensus queue, agreement, the confusion matrix, pass rates."""
        self.tallies_md = gr.Markdown(f"### {t('en', 'tallies')}")
        with gr.Row():
            self.pool = gr.Dropdown(pool_choices("en"), value=ALL, label=t("en", "filter_pool"))
            self.tally_state = gr.Dropdown(state_choices("en"), value=ALL, label=t("en", "filter_state"))
            self.sort = gr.Dropdown(sort_choices("en"), value="clip", label=t("en", "sort"))
        # The four tables of the dashboard are plain HTML (dashboard.table_html says why).
        self.table = gr.HTML(elem_id="admin-tallies", padding=False)
        with gr.Row():
            # No minimum: Gradio shows an empty field as 0, and under a minimum of 1 that is a red "invalid"
            # box before anything was typed; the handler refuses an unknown clip with its own message.
            self.clip_id = gr.Number(None, label=t("en", "clip_to_play"), precision=0)
            self.play_btn = gr.Button(t("en", "play"))
            self.clip_audio = gr.Audio(label=t("en", "admin_clip"), interactive=False,
                                       buttons=["download"])
        self.queue_md = gr.Markdown(f"### {t('en', 'queue')}")
        self.queue = gr.HTML(elem_id="admin-queue", padding=False)
        self.agreement_md = gr.Markdown(t("en", "agreement_title"))
        self.agreement = gr.Markdown(elem_id="admin-agreement")
        with gr.Row():
            self.ds_voters = gr.HTML(elem_id="admin-ds-voters", padding=False)
            self.ds_overruled = gr.HTML(elem_id="admin-ds-overruled", padding=False)
        self.confusion_view = gr.Radio(confusion_choices("en"), value=COUNTS, label=t("en", "confusion_view"),
                                       elem_id="admin-confusion-view")
        self.confusion = gr.Plot(label=t("en", "confusion"), show_label=False, elem_id="admin-confusion")
        self.pass_md = gr.Markdown(elem_id="admin-pass")
        with gr.Row():
            self.by_emotion = gr.Plot(label=t("en", "pass_by_emotion"), show_label=False, elem_id="admin-by-emotion")
            self.by_round = gr.Plot(label=t("en", "pass_by_round"), show_label=False, elem_id="admin-by-round")
        self.over_time = gr.Plot(label=t("en", "pass_over_time"), show_label=False, elem_id="admin-over-time")
        self.export_btn = gr.Button(t("en", "export"), elem_id="admin-export")
        self.files = gr.File(label=t("en", "csv_files"), file_count="multiple", interactive=False)

    def _build_models(self) -> None:
        """Generation, training and the model versions."""
        self.generate_md = gr.Markdown(t("en", "generate_title"))
        with gr.Row():
            self.gen_count = gr.Number(8, label=t("en", "generate_count"), precision=0, minimum=1,
                                       maximum=MAX_CLIPS, elem_id="admin-gen-count")
            self.gen_emotions = gr.CheckboxGroup(emotion_choices("en"), value=list(EMOTION_IDS),
                                                 label=t("en", "generate_emotions"), elem_id="admin-gen-emotions")
            self.gen_voice = gr.Dropdown(voice_choices("en"), value=ROTATE, label=t("en", "generate_voice"),
                                         elem_id="admin-gen-voice")
        with gr.Row():
            self.gen_btn = gr.Button(t("en", "generate"), variant="primary", elem_id="admin-generate")
            self.gen_cancel = gr.Button(t("en", "cancel_job"), elem_id="admin-gen-cancel")
        self.gen_status = gr.Markdown(elem_id="admin-gen-status")
        self.gen_progress = gr.Slider(0, 100, value=0, step=0.1, label="%", interactive=False,
                                      elem_id="admin-gen-progress")
        self.train_md = gr.Markdown(t("en", "train_title"))
        with gr.Row():
            self.train_btn = gr.Button(t("en", "train_start"), variant="primary", elem_id="admin-train")
            self.train_cancel = gr.Button(t("en", "cancel_job"), elem_id="admin-train-cancel")
        self.train_status = gr.Markdown(elem_id="admin-train-status")
        # A tenth of a percent: the first steps of a long run show (4 of 2000 steps is 0.2 %).
        self.train_progress = gr.Slider(0, 100, value=0, step=0.1, label="%", interactive=False,
                                        elem_id="admin-train-progress")
        self.loss_plot = gr.LinePlot(x="step", y="loss", x_title=t("en", "axis_step"), y_title=t("en", "axis_loss"),
                                     height=260, label=t("en", "train_loss"), elem_id="admin-train-loss")
        self.models_md = gr.Markdown(f"### {t('en', 'models_title')}")
        self.models = gr.Dataframe(value=None, interactive=False, max_height=300, elem_id="admin-models")
        self.model_in_use = gr.Markdown(elem_id="admin-model-in-use")
        with gr.Row():
            # allow_custom_value: the choices change as versions come; the handler (and the engine) check it.
            self.model_choice = gr.Dropdown([(t("en", "model_default"), DEFAULT_MODEL)], value=DEFAULT_MODEL,
                                            label=t("en", "model_choice"), allow_custom_value=True,
                                            elem_id="admin-model-choice")
            self.use_model_btn = gr.Button(t("en", "use_model"), elem_id="admin-use-model")

    def _build_bot_lab(self) -> None:
        """Attackers against the captcha, beside the humans' pass rates."""
        self.bots_md = gr.Markdown(t("en", "bots_title"))
        self.bots_statement = gr.Markdown(elem_id="admin-bots-statement")
        with gr.Row():
            self.bots_cells = gr.Dataframe(value=None, interactive=False, max_height=300, elem_id="admin-bots-cells")
            self.bots_humans = gr.Dataframe(value=None, interactive=False, max_height=300,
                                            elem_id="admin-bots-humans")
        self.bots_plot = gr.Image(label=t("en", "bots_plot"), type="filepath", interactive=False,
                                  elem_id="admin-bots-plot")
        with gr.Row():
            self.bots_attackers = gr.CheckboxGroup(sorted(ATTACKERS), value=list(research.QUICK_ATTACKERS),
                                                   label=t("en", "bots_attackers"), elem_id="admin-bots-attackers")
            self.bots_challenges = gr.Number(research.QUICK_CHALLENGES, label=t("en", "bots_challenges"), precision=0,
                                             minimum=1, maximum=research.MAX_CHALLENGES, elem_id="admin-bots-n")
        with gr.Row():
            self.bots_btn = gr.Button(t("en", "bots_start"), variant="primary", elem_id="admin-bots-start")
            self.bots_cancel = gr.Button(t("en", "cancel_job"), elem_id="admin-bots-cancel")
        self.bots_status = gr.Markdown(elem_id="admin-bots-status")
        self.bots_progress = gr.Slider(0, 100, value=0, label="%", interactive=False, elem_id="admin-bots-progress")

    def _build_sites(self) -> None:
        """The sites that embed the captcha: their table, a form to add one (its secret shown once), and
        rotate-secret and remove (after a confirmation) for the one chosen."""
        self.sites_md = gr.Markdown(t("en", "sites_title"))
        self.sites_table = gr.Dataframe(value=None, interactive=False, max_height=300, wrap=True,
                                        elem_id="admin-sites")
        self.site_add_md = gr.Markdown(t("en", "site_add_title"))
        with gr.Row():
            self.site_name = gr.Textbox(label=t("en", "site_name"), max_lines=1, elem_id="admin-site-name")
            self.site_origins = gr.Textbox(label=t("en", "site_origins"), lines=3, elem_id="admin-site-origins")
        self.site_policy = gr.Textbox(label=t("en", "site_policy"), max_lines=1, elem_id="admin-site-policy")
        self.site_alternative = gr.Checkbox(True, label=t("en", "site_alternative"), elem_id="admin-site-alternative")
        self.site_add_btn = gr.Button(t("en", "site_add"), variant="primary", elem_id="admin-site-add")
        self.sites_message = gr.Markdown(elem_id="admin-sites-message")
        self.site_secret = gr.Textbox(label=t("en", "site_secret"), interactive=False, buttons=["copy"],
                                      visible=False, elem_id="admin-site-secret")
        self.site_manage_md = gr.Markdown(t("en", "site_manage_title"))
        with gr.Row():
            self.site_choice = gr.Dropdown([], value=None, label=t("en", "site_choice"), elem_id="admin-site-choice")
            self.site_rotate_btn = gr.Button(t("en", "site_rotate"), elem_id="admin-site-rotate")
            self.site_remove_btn = gr.Button(t("en", "site_remove"), variant="stop", elem_id="admin-site-remove")
        with gr.Row(visible=False, elem_id="admin-site-confirm") as self.site_confirm_row:
            self.site_confirm_md = gr.Markdown(elem_id="admin-site-confirm-text")
            self.site_remove_yes = gr.Button(t("en", "site_remove_yes"), variant="stop",
                                             elem_id="admin-site-remove-yes")
            self.site_remove_no = gr.Button(t("en", "site_remove_no"), elem_id="admin-site-remove-no")

    @property
    def sites(self) -> list:
        """What every sites handler may return (as a dict, leaving the others as they are)."""
        return [self.sites_table, self.site_choice, self.sites_message, self.site_secret, self.site_confirm_row,
                self.site_confirm_md, self.site_name, self.site_origins, self.site_policy]

    @property
    def dashboard(self) -> list:
        """What refresh returns, in this order."""
        return [self.summary, self.table, self.queue, self.agreement, self.ds_voters, self.ds_overruled,
                self.confusion, self.pass_md, self.by_emotion, self.by_round, self.over_time]

    @property
    def filters(self) -> list:
        """What refresh takes, in this order."""
        return [self.state, self.pool, self.tally_state, self.sort, self.confusion_view]

    @property
    def training(self) -> list:
        """What training_panel and training_status return, in this order."""
        return [self.train_status, self.train_progress, self.loss_plot, self.train_timer, self.models,
                self.model_choice, self.model_in_use]

    @property
    def generation(self) -> list:
        """What generate, cancel_generation and generation_status return, in this order."""
        return [self.gen_status, self.gen_progress, self.gen_timer]

    @property
    def bot_lab(self) -> list:
        """What bot_lab_panel, start_evaluation and evaluation_status return, in this order."""
        return [self.bots_statement, self.bots_cells, self.bots_humans, self.bots_plot, self.bots_status,
                self.bots_progress, self.bots_timer]

    def wire(self, tab: gr.Tab) -> None:
        filters = self.filters
        self.refresh_btn.click(self.refresh, filters, self.dashboard, api_name="admin_refresh").success(
            self.training_panel, [self.state], self.training, api_name="admin_training").success(
            self.bot_lab_panel, [self.state], self.bot_lab, api_name="admin_bot_lab").success(
            self.sites_panel, [self.state], self.sites, api_name="admin_sites")
        # Opening the tab fills the dashboard alone; each other section loads when it is opened (their handlers
        # running beside the dashboard's drawing slowed its first look on two cores).
        gr.on([tab.select, self.dashboard_section.select], self.refresh, filters, self.dashboard,
              api_visibility="private")
        self.models_section.select(self.training_panel, [self.state], self.training, api_visibility="private")
        self.bots_section.select(self.bot_lab_panel, [self.state], self.bot_lab, api_visibility="private")
        self.sites_section.select(self.sites_panel, [self.state], self.sites, api_visibility="private")
        self.site_add_btn.click(self.add_site, [self.state, self.site_name, self.site_origins, self.site_alternative,
                                                self.site_policy], self.sites, api_name="admin_add_site")
        self.site_rotate_btn.click(self.rotate_site, [self.state, self.site_choice], self.sites,
                                   api_name="admin_rotate_site_secret")
        self.site_remove_btn.click(self.ask_remove_site, [self.state, self.site_choice], self.sites,
                                   api_visibility="private").then(
            None, js="() => window.insideoutUi && window.insideoutUi.focus('#admin-site-remove-no')")
        self.site_remove_yes.click(self.remove_site, [self.state, self.site_choice], self.sites,
                                   api_name="admin_remove_site")
        self.site_remove_no.click(self.cancel_remove_site, [self.state], self.sites, api_visibility="private")
        self.site_choice.change(self.cancel_remove_site, [self.state], self.sites, api_visibility="private")
        for dropdown in (self.pool, self.tally_state, self.sort):
            dropdown.change(self.tally, filters[:4], [self.table], api_visibility="private")
        self.confusion_view.change(self.confusion_plot, [self.state, self.confusion_view], [self.confusion],
                                   api_visibility="private")
        self.play_btn.click(self.play, [self.state, self.clip_id], [self.clip_audio], api_name="admin_play")
        self.export_btn.click(self.export, [self.state], [self.files], api_name="admin_export")
        progress = self.generation
        self.gen_btn.click(self.generate, [self.state, self.gen_count, self.gen_emotions, self.gen_voice], progress,
                           api_name="admin_generate")
        self.gen_cancel.click(self.cancel_generation, [self.state], progress, api_name="admin_cancel_generation")
        self.gen_timer.tick(self.generation_status, [self.state], progress, api_visibility="private")
        self.train_btn.click(self.start_training, [self.state], self.training, api_name="admin_start_training")
        self.train_cancel.click(self.cancel_training, [self.state], self.training, api_name="admin_cancel_training")
        self.use_model_btn.click(self.use_model, [self.state, self.model_choice], self.training,
                                 api_name="admin_use_model")
        self.train_timer.tick(self.training_status, [self.state], self.training, api_visibility="private")
        self.bots_btn.click(self.start_evaluation, [self.state, self.bots_attackers, self.bots_challenges],
                            self.bot_lab, api_name="admin_start_bot_evaluation")
        self.bots_cancel.click(self.cancel_evaluation, [self.state], self.bot_lab,
                               api_name="admin_cancel_bot_evaluation")
        self.bots_timer.tick(self.evaluation_status, [self.state], self.bot_lab, api_visibility="private")

    def relabel(self, tab_state: TabState) -> dict:
        lang = tab_state.lang
        return {
            self.refresh_btn: gr.update(value=t(lang, "refresh")),
            self.dashboard_section: gr.update(label=t(lang, "section_dashboard")),
            self.models_section: gr.update(label=t(lang, "section_models")),
            self.bots_section: gr.update(label=t(lang, "section_bots")),
            self.sites_section: gr.update(label=t(lang, "section_sites")),
            self.tallies_md: f"### {t(lang, 'tallies')}",
            self.pool: gr.update(label=t(lang, "filter_pool"), choices=pool_choices(lang)),
            self.tally_state: gr.update(label=t(lang, "filter_state"), choices=state_choices(lang)),
            self.sort: gr.update(label=t(lang, "sort"), choices=sort_choices(lang)),
            self.agreement_md: t(lang, "agreement_title"),
            self.confusion_view: gr.update(label=t(lang, "confusion_view"), choices=confusion_choices(lang)),
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
            self.gen_voice: gr.update(label=t(lang, "generate_voice"), choices=voice_choices(lang)),
            self.gen_btn: gr.update(value=t(lang, "generate")),
            self.gen_cancel: gr.update(value=t(lang, "cancel_job")),
            self.train_md: t(lang, "train_title"),
            self.train_btn: gr.update(value=t(lang, "train_start")),
            self.train_cancel: gr.update(value=t(lang, "cancel_job")),
            self.loss_plot: gr.update(label=t(lang, "train_loss"), x_title=t(lang, "axis_step"),
                                      y_title=t(lang, "axis_loss")),
            self.models_md: f"### {t(lang, 'models_title')}",
            # The versions are the admin's to see: anyone else gets the label alone.
            self.model_choice: gr.update(label=t(lang, "model_choice"),
                                         **({"choices": self._model_choices(lang)}
                                            if self._is_admin(tab_state) else {})),
            self.use_model_btn: gr.update(value=t(lang, "use_model")),
            self.bots_md: t(lang, "bots_title"),
            self.bots_plot: gr.update(label=t(lang, "bots_plot")),
            self.bots_attackers: gr.update(label=t(lang, "bots_attackers")),
            self.bots_challenges: gr.update(label=t(lang, "bots_challenges")),
            self.bots_btn: gr.update(value=t(lang, "bots_start")),
            self.bots_cancel: gr.update(value=t(lang, "cancel_job")),
            self.sites_md: t(lang, "sites_title"),
            self.site_add_md: t(lang, "site_add_title"),
            self.site_name: gr.update(label=t(lang, "site_name")),
            self.site_origins: gr.update(label=t(lang, "site_origins")),
            self.site_alternative: gr.update(label=t(lang, "site_alternative")),
            self.site_policy: gr.update(label=t(lang, "site_policy")),
            self.site_add_btn: gr.update(value=t(lang, "site_add")),
            self.site_secret: gr.update(label=t(lang, "site_secret")),
            self.site_manage_md: t(lang, "site_manage_title"),
            self.site_choice: gr.update(label=t(lang, "site_choice")),
            self.site_rotate_btn: gr.update(value=t(lang, "site_rotate")),
            self.site_remove_btn: gr.update(value=t(lang, "site_remove")),
            self.site_remove_yes: gr.update(value=t(lang, "site_remove_yes")),
            self.site_remove_no: gr.update(value=t(lang, "site_remove_no")),
            # The sites are the admin's to see: anyone else gets the labels alone.
            self.sites_table: self._sites_frame(lang) if self._is_admin(tab_state) else gr.skip(),
        } | self._bot_lab_texts(lang, self._is_admin(tab_state))

    def _bot_lab_texts(self, lang: str, admin: bool) -> dict:
        """The Bot lab's words and tables in the new language at once, not at the next refresh (for anyone
        else, left as they are: they are the admin's to see)."""
        words = self._bot_lab_words(lang, self.board.research()) if admin else [gr.skip()] * 3
        return dict(zip((self.bots_statement, self.bots_cells, self.bots_humans), words, strict=True))

    def _bot_lab_words(self, lang: str, view: stats.ResearchView) -> list:
        """The statement, the latest evaluation's cells and the live pass rates, in the page's language."""
        return [self._statement(lang, view), self._cells_frame(lang, view), self._humans_frame(lang, view)]

    # -- handlers ------------------------------------------------------------------------------

    def _admin(self, tab_state: TabState) -> Session:
        try:
            return self.accounts.require_admin(tab_state.user)
        except NotAllowed:
            raise gr.Error(t(tab_state.lang, "admin_only"), print_exception=False) from None

    def _is_admin(self, tab_state: TabState) -> bool:
        try:
            self.accounts.require_admin(tab_state.user)
        except NotAllowed:
            return False
        return True

    def _table(self, pool: str, state: str, sort: str, lang: str = "en") -> str:
        rows = self.board.tally_table(None if pool == ALL else pool, None if state == ALL else state, sort)
        return first_rows(tally_frame(rows[:TABLE_ROWS], lang), len(rows), lang, "tallies_table")

    def tally(self, tab_state: TabState, pool: str, state: str, sort: str) -> str:
        self._admin(tab_state)
        return self._table(pool, state, sort, tab_state.lang)

    def confusion_plot(self, tab_state: TabState, view: str | None = COUNTS):
        self._admin(tab_state)
        return confusion_chart(self.board.confusion_matrix(), tab_state.lang, view == SHARES)

    def refresh(self, tab_state: TabState, pool: str, state: str, sort: str, view: str | None = COUNTS) -> list:
        """The whole dashboard (self.dashboard's components), in the page's language."""
        self._admin(tab_state)
        lang, dash = tab_state.lang, self.board
        rates = dash.pass_rates()
        queue = dash.consensus_queue()
        ds = dash.dawid_skene()  # once: each call reads every counted vote to see whether they changed
        return [
            summary_markdown(dash.summary(queue), lang),
            self._table(pool, state, sort, lang),
            first_rows(queue_frame(queue[:TABLE_ROWS], lang), len(queue), lang, "queue_table"),
            agreement_markdown(dash.agreement(), ds, lang),
            *ds_frames(ds, lang),
            confusion_chart(dash.confusion_matrix(), lang, view == SHARES),
            t(lang, "pass_overall", cpass=rates.challenges_passed, cfail=rates.challenges_failed,
              copen=rates.challenges_open, crate=percent(rates.challenge_pass_rate, lang),
              rpass=rates.rounds_passed, rans=rates.rounds_answered,
              rrate=percent(rates.round_pass_rate, lang)),
            by_emotion_chart(dash.pass_rate_by_emotion(), lang),
            by_round_chart(dash.pass_rate_by_round(), lang),
            over_time_chart(dash.over_time(), lang),
        ]

    def redraw(self, tab_state: TabState, pool: str, state: str, sort: str, view: str | None = COUNTS) -> list:
        """After a language switch: the dashboard again in the new language for the admin, nothing for anyone
        else (the numbers are the admin's to see)."""
        if not self._is_admin(tab_state):
            return [gr.skip()] * len(self.dashboard)
        return self.refresh(tab_state, pool, state, sort, view)

    def play(self, tab_state: TabState, clip_id: float | None) -> bytes | None:
        self._admin(tab_state)
        if clip_id is None:
            return None
        try:
            return wav.encode(self.services.library.pcm(int(clip_id)))
        except (ClipError, StoreError) as e:
            raise gr.Error(str(e), print_exception=False) from None

    def generate(self, tab_state: TabState, count: float | None, emotions: list[str], voice: str = ROTATE) -> list:
        """Queue a generation job; its progress shows below and refreshes every second. A refused request is
        one message in the job's line, the rest left as it is (no error badges over the panel)."""
        self._admin(tab_state)
        lang = tab_state.lang
        request = GenerationRequest(int(count or 0), tuple(emotions or ()), voice=voice or ROTATE)
        try:
            self.services.generation.start(request)
        except GenerationError as e:
            return self._refusal(lang, "gen_refused", e, ("count", "no_emotion", "unknown_emotion", "unknown_voice"),
                                 self.generation, self.gen_status)
        return self.generation_status(tab_state)

    @staticmethod
    def _refusal(lang: str, key: str, e: JobRefused, worded: tuple[str, ...], outputs: list, status: gr.Markdown,
                 **values: str) -> list:
        """A refused job start as one message in status (key's words with the reason: in the page's language
        when the refusal's code is one the texts word, else the engine's English), every other output left as
        it is (gr.skip: no error badges over the panel). values: the refusal's values as the page shows them."""
        reason = t(lang, f"{key}_{e.code}", **(e.values | values)) if e.code in worded else str(e)
        return [t(lang, key, reason=reason) if output is status else gr.skip() for output in outputs]

    def cancel_generation(self, tab_state: TabState) -> list:
        self._admin(tab_state)
        self.services.jobs.cancel_latest(GENERATE)
        return self.generation_status(tab_state)

    def generation_status(self, tab_state: TabState) -> list:
        self._admin(tab_state)
        lang = tab_state.lang
        job = self.services.jobs.status(GENERATE)
        if job is None:
            return [t(lang, "job_none"), 0, gr.Timer(active=False)]
        state = t(lang, f"job_state_{'cancelling' if job.cancelling else job.state}")
        text = t(lang, "job_status", id=job.id, state=state, detail=self._job_detail(job, lang))
        return [text, job.percent, gr.Timer(active=job.running)]

    def export(self, tab_state: TabState) -> list[str]:
        """The votes and tallies as CSV files in Gradio's temp dir, from where it serves them."""
        self._admin(tab_state)
        parent = Path(os.environ.get("GRADIO_TEMP_DIR") or tempfile.gettempdir()) / "insideout-exports"
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        prune_exports(parent, EXPORT_KEPT_S)
        folder = Path(tempfile.mkdtemp(prefix="export-", dir=parent))
        votes = folder / "insideout-votes.csv"
        tallies = folder / "insideout-tallies.csv"
        votes.write_text(self.board.votes_csv())
        tallies.write_text(self.board.tallies_csv())
        return [str(votes), str(tallies)]

    # -- training ------------------------------------------------------------------------------

    def start_training(self, tab_state: TabState) -> list:
        """Queue a fine-tune on the learning pool; its progress and loss curve refresh every second. A refused
        start is one message in the panel's status, the rest left as it is (no error badges over the panel)."""
        self._admin(tab_state)
        lang = tab_state.lang
        try:
            self.services.start_training()
        except RetrainError as e:
            shares = ({"share": percent(e.values["share"], lang), "limit": percent(e.values["limit"], lang)}
                      if e.code == "suspect_batch" else {})
            return self._refusal(lang, "train_refused", e, ("empty_pool", "busy", "suspect_batch"), self.training,
                                 self.train_status, **shares)
        return self.training_panel(tab_state)

    def cancel_training(self, tab_state: TabState) -> list:
        self._admin(tab_state)
        self.services.jobs.cancel_latest(TRAIN)
        return self.training_panel(tab_state)

    def use_model(self, tab_state: TabState, choice: str | float | None) -> list:
        """Make an evaluated version the one that generates, or go back to the default model."""
        self._admin(tab_state)
        lang = tab_state.lang
        text = "" if choice is None else str(choice).strip()
        if text in ("", DEFAULT_MODEL):
            model_id = None
        elif isinstance(choice, int | float) and float(choice).is_integer() or text.isdecimal():
            model_id = int(float(text))  # a menu choice, or an id typed in it (or sent by the API)
        else:
            raise gr.Error(t(lang, "model_bad_choice"), print_exception=False)
        try:
            self.services.retraining.set_active(model_id)
        except VersionRefused as e:
            message = (t(lang, "model_unknown", id=model_id) if e.reason == "unknown"
                       else t(lang, "model_not_evaluated", id=model_id, state=e.state))
            raise gr.Error(message, print_exception=False) from None
        return self.training_panel(tab_state)

    def training_panel(self, tab_state: TabState) -> list:
        """The whole training panel: the latest job, its loss curve, the versions and the choice among them."""
        return self._training(tab_state, choices=True)

    def training_status(self, tab_state: TabState) -> list:
        """The timer's refresh: as training_panel, but the version menu stays as it is while a job runs
        (so that an admin choosing in it is not interrupted every second)."""
        return self._training(tab_state, choices=False)

    def _model_choices(self, lang: str, status: TrainingStatus | None = None) -> list[tuple[str, str | int]]:
        versions = (status or self.services.retraining.status()).versions
        evaluated = [(f"{v.id} · {v.version or ''}".rstrip(" ·"), v.id) for v in versions if v.evaluated]
        return [(t(lang, "model_default"), DEFAULT_MODEL), *evaluated]

    def _training(self, tab_state: TabState, choices: bool) -> list:
        self._admin(tab_state)
        lang = tab_state.lang
        status = self.services.retraining.status()
        job = status.job
        pool = t(lang, "train_pool", n=status.learning_clips, threshold=status.threshold)
        if job is None:
            text, share, running = t(lang, "train_none"), 0, False
        else:
            state = t(lang, f"job_state_{'cancelling' if job.cancelling else job.state}")
            text = t(lang, "train_status", id=job.id, state=state, detail=self._job_detail(job, lang))
            share, running = job.percent, job.running
        losses = list(status.shown.metrics.losses) if status.shown else None
        menu = gr.update(choices=self._model_choices(lang, status)) if choices or not running else gr.skip()
        return [f"{pool}\n\n{text}", share, loss_frame(losses), gr.Timer(active=running),
                models_frame(status.versions, lang, status.default), menu, self._in_use(lang, status)]

    @staticmethod
    def _job_detail(job: JobStatus, lang: str) -> str:
        """What a job is doing or did, in the page's language: worded from its stage and numbers (the English
        message is for scripts and logs), or from its result once done."""
        v, done, total = job.values, job.progress, job.total

        def duration(seconds: float) -> str:
            minutes = round(seconds / 60)
            if seconds < 60:
                return t(lang, "duration_s", s=max(1, round(seconds)))
            if minutes < 60:
                return t(lang, "duration_min", m=minutes)
            return t(lang, "duration_h", h=minutes // 60, m=minutes % 60)

        if job.state == JOB_FAILED:
            return t(lang, "job_failed", error=job.error or "")
        if job.state == JOB_QUEUED:
            return t(lang, "gen_queued", total=total) if job.kind == GENERATE else t(lang, "train_queued")
        if job.state == JOB_DONE:
            result = job.result or {}
            if job.kind == GENERATE:
                return t(lang, "gen_done", done=done, total=total, made=result.get("made", 0),
                         failed=result.get("failed", 0))
            if job.kind == BOT_EVALUATION:
                return t(lang, "bots_job_done", id=result.get("evaluation_id"))
            loss = result.get("final_loss")
            outcome = t(lang, "train_outcome_activated" if result.get("activated") else "train_outcome_held_back")
            return t(lang, "train_done", model=result.get("model_id"), version=result.get("version"),
                     loss=number(loss, lang) if isinstance(loss, int | float) else t(lang, "none_yet"),
                     consumed=result.get("consumed", 0), outcome=outcome)
        if job.state == JOB_CANCELLED:
            if job.kind == GENERATE:
                return t(lang, "gen_cancelled", done=done, total=total)
            if job.kind == TRAIN and job.stage == "train_prepare":
                return t(lang, "train_cancelled_preparing")
            if job.kind == TRAIN and job.stage == "train_evaluate":
                return t(lang, "train_cancelled_evaluating", done=done, total=total)
            return t(lang, "train_cancelled", done=done, total=total) if job.kind == TRAIN else ""
        # Queued or running: the stage it reported last (a cancel asked for is said first).
        said = t(lang, "job_cancelling") + " " if job.cancelling else ""
        stage = job.stage
        if stage == "gen_load":
            return said + t(lang, "stage_gen_load", total=total)
        if stage == "gen_speak":
            return said + t(lang, "stage_gen_speak", done=done, total=total, first=v["first"], last=v["last"])
        if stage in ("gen_clips", None) and job.kind == GENERATE:
            return said + t(lang, "stage_gen_clips", done=done, total=total)
        if stage == "train_prepare":
            return said + t(lang, "stage_train_prepare", prepared=v["prepared"], clips=v["clips"])
        if stage == "train_start":
            return said + t(lang, "stage_train_start", clips=v["clips"], steps=v["steps"])
        if stage == "train_step":
            eta = v.get("eta_s")
            eta = t(lang, "eta_unknown") if eta is None else t(lang, "eta_left", time=duration(eta))
            return said + t(lang, "stage_train_step", step=v["step"], steps=v["steps"], loss=number(v["loss"], lang),
                            eta=eta)
        if stage == "train_evaluate":
            part = v.get("part") or "start"
            values = {k: v[k] for k in ("first", "last", "of")} if part == "speaking" else {}
            return said + t(lang, "stage_train_evaluate", target=t(lang, f"eval_target_{v.get('target', 'version')}"),
                            part=t(lang, f"eval_part_{part}", **values))
        if stage == "train_finished":
            return said + t(lang, "stage_train_finished", step=v["step"])
        if stage == "bots_start":
            return said + t(lang, "stage_bots_start")
        if stage == "bots_cell":
            return said + t(lang, "stage_bots_cell", attacker=v["attacker"], policy=v["policy"], passes=v["passes"],
                            n=v["n"])
        return said.strip()  # running, no stage reported yet

    @staticmethod
    def _in_use(lang: str, status: TrainingStatus) -> str:
        if status.active is None:
            return t(lang, "model_in_use_default")
        if status.active_file_missing:
            return t(lang, "model_in_use_missing", id=status.active.id)
        return t(lang, "model_in_use", id=status.active.id, version=status.active.version)

    # -- sites -----------------------------------------------------------------------------------

    @staticmethod
    def _when(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")

    def _sites_frame(self, lang: str) -> pd.DataFrame:
        columns = [t(lang, k) for k in ("col_site_name", "col_sitekey", "col_origins", "col_alternative",
                                        "col_site_policy", "col_created", "col_rotated")]
        settings = self.services.settings
        app_policy = t(lang, "site_app_policy", policy=f"{settings.rounds_to_pass}/{settings.max_rounds}")
        rows = [(s.name, s.sitekey, ", ".join(s.origins) or t(lang, "site_builtin_origins"),
                 t(lang, "site_on" if s.alternative else "site_off"), s.policy_text or app_policy,
                 self._when(s.created_at), self._when(s.secret_rotated_at)) for s in self.services.sites.all()]
        return pd.DataFrame(rows, columns=columns)

    def _site_choices(self, chosen: str | None = None) -> dict:
        """The sites one may rotate or remove (not the built-in one, whose secret comes from the secret key)."""
        sites = [s for s in self.services.sites.all() if not s.builtin]
        keys = [s.sitekey for s in sites]
        return gr.update(choices=[(f"{s.name} ({s.sitekey})", s.sitekey) for s in sites],
                         value=chosen if chosen in keys else None)

    def _sites_view(self, lang: str, message: str = "", secret: str | None = None, chosen: str | None = None,
                    changes: dict | None = None) -> dict:
        """The panel after an action: the table and the choice anew, the message, the secret (shown only
        right after it was made: any later action hides it), the confirmation closed."""
        out = {self.sites_table: self._sites_frame(lang), self.site_choice: self._site_choices(chosen),
               self.sites_message: message,
               self.site_secret: gr.update(value=secret or "", visible=secret is not None),
               self.site_confirm_row: gr.update(visible=False), self.site_confirm_md: ""}
        return out | (changes or {})

    def _site(self, lang: str, key: str | None) -> Site:
        if not key:
            raise ValueError(t(lang, "site_pick"))
        site = self.services.sites.get(key)
        if site is None:
            raise ValueError(t(lang, "site_unknown", site=key))
        return site

    @staticmethod
    def _refused(lang: str, e: Exception) -> str:
        reason = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        return t(lang, "site_refused", reason=reason)

    def sites_panel(self, tab_state: TabState) -> dict:
        self._admin(tab_state)
        return self._sites_view(tab_state.lang)

    def add_site(self, tab_state: TabState, name: str | None, origins: str | None, alternative: bool,
                 policy: str | None = None) -> dict:
        """Register a site; its secret is shown once, here, with the words to copy it now."""
        self._admin(tab_state)
        lang = tab_state.lang
        lines = [line.strip() for line in (origins or "").splitlines() if line.strip()]
        try:
            site, secret = self.services.sites.add(name or "", lines, bool(alternative), policy or None)
        except ValueError as e:  # SiteError: the message says what to fix
            return self._sites_view(lang, self._refused(lang, e))
        return self._sites_view(lang, t(lang, "site_added", name=site.name, sitekey=site.sitekey), secret,
                                chosen=site.sitekey, changes={self.site_name: "", self.site_origins: "",
                                                              self.site_policy: ""})

    def rotate_site(self, tab_state: TabState, key: str | None) -> dict:
        self._admin(tab_state)
        lang = tab_state.lang
        try:
            site = self._site(lang, key)
            secret = self.services.sites.rotate_secret(site.sitekey)
        except (ValueError, KeyError) as e:
            return self._sites_view(lang, self._refused(lang, e), chosen=key)
        return self._sites_view(lang, t(lang, "site_rotated", name=site.name), secret, chosen=site.sitekey)

    def ask_remove_site(self, tab_state: TabState, key: str | None) -> dict:
        """The confirmation before a removal, naming the site."""
        self._admin(tab_state)
        lang = tab_state.lang
        try:
            site = self._site(lang, key)
        except ValueError as e:
            return self._sites_view(lang, self._refused(lang, e), chosen=key)
        return {self.sites_message: "", self.site_secret: gr.update(value="", visible=False),
                self.site_confirm_row: gr.update(visible=True),
                self.site_confirm_md: t(lang, "site_remove_confirm", name=site.name, sitekey=site.sitekey)}

    def remove_site(self, tab_state: TabState, key: str | None) -> dict:
        self._admin(tab_state)
        lang = tab_state.lang
        try:
            site = self._site(lang, key)
            removed = self.services.sites.remove(site.sitekey)
        except ValueError as e:
            return self._sites_view(lang, self._refused(lang, e), chosen=key)
        if not removed:
            return self._sites_view(lang, t(lang, "site_refused", reason=t(lang, "site_unknown", site=key)))
        return self._sites_view(lang, t(lang, "site_removed", name=site.name))

    def cancel_remove_site(self, tab_state: TabState) -> dict:
        self._admin(tab_state)
        return {self.site_confirm_row: gr.update(visible=False), self.site_confirm_md: ""}

    # -- the bot lab ---------------------------------------------------------------------------

    def start_evaluation(self, tab_state: TabState, attackers: list[str], challenges: float | None) -> list:
        """Queue a bot evaluation on a server of its own; its progress refreshes every second, and the panel
        redraws when it ends. A refused request is one message in the job's line, the rest left as it is."""
        self._admin(tab_state)
        try:
            self.services.research.start(tuple(attackers or ()), int(challenges or 0))
        except research.EvaluationError as e:
            return self._refusal(tab_state.lang, "bots_refused", e, ("attackers", "challenges"), self.bot_lab,
                                 self.bots_status)
        return self.bot_lab_panel(tab_state)

    def cancel_evaluation(self, tab_state: TabState) -> list:
        self._admin(tab_state)
        self.services.jobs.cancel_latest(BOT_EVALUATION)
        return self.bot_lab_panel(tab_state)

    def evaluation_status(self, tab_state: TabState) -> list:
        """The timer's refresh: the job's line and progress each second; the numbers only once it has ended."""
        self._admin(tab_state)
        job = self.services.jobs.status(BOT_EVALUATION)
        if job is not None and job.running:
            return [gr.skip()] * 4 + self._evaluation_job(tab_state.lang, job)
        return self.bot_lab_panel(tab_state)

    def bot_lab_panel(self, tab_state: TabState) -> list:
        """The statement, the latest evaluation's cells beside the live pass rates, its plot, and the job."""
        self._admin(tab_state)
        lang = tab_state.lang
        view = self.board.research()
        folder = Path(tempfile.mkdtemp(prefix="botlab-", dir=os.environ.get("GRADIO_TEMP_DIR")))
        figure = research.plot(view, folder / "insideout-botlab.png")
        return [*self._bot_lab_words(lang, view), str(figure) if figure else None,
                *self._evaluation_job(lang, self.services.jobs.status(BOT_EVALUATION))]

    @staticmethod
    def _evaluation_job(lang: str, job: JobStatus | None) -> list:
        if job is None:
            return [t(lang, "bots_job_none"), 0, gr.Timer(active=False)]
        state = t(lang, f"job_state_{'cancelling' if job.cancelling else job.state}")
        text = t(lang, "bots_job_status", id=job.id, state=state, done=job.progress, total=job.total or "?",
                 detail=AdminView._job_detail(job, lang))
        return [text, job.percent, gr.Timer(active=job.running)]

    @staticmethod
    def _statement(lang: str, view: stats.ResearchView) -> str:
        """research.statement's facts, in words."""
        said = research.statement(view)
        chance = percent(said.chance, lang)
        if not said.evaluated:
            lines = [t(lang, "bots_none", command=said.command, policy=said.policy, chance=chance)]
        else:
            when = datetime.fromtimestamp(view.evaluated_at, UTC).strftime("%Y-%m-%d %H:%M")
            lines = [t(lang, "bots_evaluated", id=view.evaluation_id, when=when, n=view.challenges_per_cell or "?")]
            if not said.covered:
                lines.append(t(lang, "bots_not_covered", policies=", ".join(said.evaluated_policies),
                               policy=said.policy))
            else:
                nobody = t(lang, "bots_nobody")
                lines.append(t(lang, "bots_not_stopped", policy=said.policy, chance=chance,
                               names=", ".join(said.not_stopped) or nobody))
                lines.append(t(lang, "bots_stopped", chance=chance, names=", ".join(said.stopped) or nobody))
        human = said.human
        if human is None:
            lines.append(t(lang, "bots_human_none", policy=said.policy))
        else:
            lines.append(t(lang, "bots_human", policy=said.policy, passed=human.passed,
                           total=human.passed + human.failed, rate=percent(human.rate, lang),
                           low=percent(human.interval[0], lang), high=percent(human.interval[1], lang)))
        return "\n\n".join(lines)

    @staticmethod
    def _interval(interval: tuple[float, float], lang: str) -> str:
        return f"[{percent(interval[0], lang)}, {percent(interval[1], lang)}]"

    def _cells_frame(self, lang: str, view: stats.ResearchView) -> pd.DataFrame:
        columns = [t(lang, k) for k in ("col_attacker", "col_configuration", "col_policy", "col_passed", "col_rate",
                                        "col_interval", "col_chance")]
        rows = [(c.attacker, c.configuration, c.policy, f"{c.passes} / {c.n}", percent(c.rate, lang),
                 self._interval(c.interval, lang), percent(c.chance, lang)) for c in view.cells]
        return pd.DataFrame(rows, columns=columns)

    def _humans_frame(self, lang: str, view: stats.ResearchView) -> pd.DataFrame:
        columns = [t(lang, k) for k in ("col_who", "col_policy", "col_passed", "col_rate", "col_interval",
                                        "col_chance")]
        rows = [(t(lang, "people"), h.policy, f"{h.passed} / {h.passed + h.failed}", percent(h.rate, lang),
                 self._interval(h.interval, lang), percent(h.chance, lang)) for h in view.humans]
        return pd.DataFrame(rows, columns=columns)


EXPORT_KEPT_S = 3600  # Gradio serves its own copy of an export; ours is gone an hour later, at the next export


def prune_exports(parent: Path, older_than_s: float) -> int:
    """Remove earlier exports' folders (research data with pseudonyms, still nothing to leave lying about)."""
    removed, cutoff = 0, time.time() - older_than_s
    for folder in parent.glob("export-*"):
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
