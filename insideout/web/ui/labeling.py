"""The labeling view: a signed-in volunteer labels unverified clips one after another."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr
import numpy as np

from ... import wav
from ...accounts import Accounts, NotAllowed
from ...db import Vote
from ...emotions import emotion
from ...services import Services
from .common import TabState
from .texts import emotion_choices, t


class LabelingView:
    def __init__(self, services: Services, accounts: Accounts):
        self.library = services.library
        self.consensus = services.consensus
        self.accounts = accounts

    def build(self, state: gr.State) -> None:
        self.state = state
        self.intro = gr.Markdown(t("en", "labeling_intro"))
        self.audio = gr.Audio(label=t("en", "label_clip"), interactive=False, buttons=[],
                              elem_id="label-audio")
        self.choice = gr.Radio(emotion_choices("en"), label=t("en", "which_emotion"),
                               elem_classes=["emotion-choices"], elem_id="label-choice")
        with gr.Row():
            self.send_btn = gr.Button(t("en", "send_label"), variant="primary", elem_id="send-label")
            self.skip_btn = gr.Button(t("en", "skip"), elem_id="skip-clip")
        self.message = gr.Markdown(elem_id="label-message")
        self.count = gr.Markdown()

    @property
    def outputs(self) -> list:
        return [self.state, self.audio, self.choice, self.message, self.count]

    def wire(self, *signed_in: gr.events.Dependency) -> None:
        self.send_btn.click(self.send, [self.state, self.choice], self.outputs, api_name="label_send")
        self.skip_btn.click(self.skip, [self.state], self.outputs, api_name="label_skip")
        for event in signed_in:
            event.then(self.on_sign_in, [self.state], self.outputs, api_visibility="private")

    def relabel(self, tab_state: TabState) -> dict:
        lang = tab_state.lang
        return {
            self.intro: t(lang, "labeling_intro"),
            self.audio: gr.update(label=t(lang, "label_clip")),
            self.choice: gr.update(choices=emotion_choices(lang), label=t(lang, "which_emotion")),
            self.send_btn: gr.update(value=t(lang, "send_label")),
            self.skip_btn: gr.update(value=t(lang, "skip")),
            self.count: t(lang, "label_votes", n=tab_state.labels_sent),
        }

    # -- handlers ------------------------------------------------------------------------------

    def _user(self, tab_state: TabState):
        try:
            return self.accounts.require_user(tab_state.user)
        except NotAllowed:
            raise gr.Error(t(tab_state.lang, "sign_in_first"), print_exception=False) from None

    def _next(self, tab_state: TabState, message: str) -> dict:
        """Show the unverified clip that needs votes most and this person has not voted on."""
        user = tab_state.user
        clip_id = self.library.pick_unverified(list(tab_state.skipped), user.username)
        if clip_id is None and tab_state.skipped:
            # Everything left was skipped: offer the skipped clips again.
            tab_state = replace(tab_state, skipped=())
            clip_id = self.library.pick_unverified([], user.username)
        tab_state = replace(tab_state, label_clip=clip_id)
        sound = None
        if clip_id is not None:
            # Varied per serving like challenge audio: the same clip may later be a control clip.
            sound = wav.encode(wav.vary_for_serving(self.library.pcm(clip_id), np.random.default_rng()))
        elif not message:
            message = t(tab_state.lang, "label_none")
        return {self.state: tab_state, self.audio: sound, self.choice: None, self.message: message,
                self.count: t(tab_state.lang, "label_votes", n=tab_state.labels_sent)}

    def on_sign_in(self, tab_state: TabState) -> dict:
        """After a login attempt: the first clip if someone signed in, nothing otherwise."""
        if tab_state.user is None:
            return {self.state: tab_state}
        return self._next(tab_state, "")

    def send(self, tab_state: TabState, choice: str | None) -> dict:
        user = self._user(tab_state)
        if tab_state.label_clip is None:
            return self._next(tab_state, "")
        if choice is None:
            return {self.message: t(tab_state.lang, "label_pick")}
        emotion(choice)  # refuses anything but the eight ids
        counted = self.consensus.record([Vote(tab_state.label_clip, user.username, choice, True, "labeling")])
        tab_state = replace(tab_state, labels_sent=tab_state.labels_sent + int(counted[0]))
        return self._next(tab_state, t(tab_state.lang, "label_counted" if counted[0] else "label_repeat"))

    def skip(self, tab_state: TabState) -> dict:
        self._user(tab_state)
        if tab_state.label_clip is not None:
            tab_state = replace(tab_state, skipped=(*tab_state.skipped, tab_state.label_clip))
        return self._next(tab_state, "")
