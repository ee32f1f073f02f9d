"""The labeling view: a signed-in volunteer labels unverified clips one after another. Which clip comes next
and what a vote is are the engine's (insideout.labeling); this view renders them.

Keyboard: keys 1-8 pick an emotion (page.PAGE_JS), the choices are one named radio group, the message after
a label is a live region, and focus goes to the next clip's play button after a label or a skip."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr

from ...accounts import NotAllowed
from ...emotions import UnknownEmotion
from ...ratelimit import RateLimited
from ...services import Services
from ..client import client_of
from . import page
from .common import TabState
from .texts import emotion_choices, t


class LabelingView:
    def __init__(self, services: Services):
        self.services = services
        self.flow = services.labeling
        self.accounts = services.accounts

    def build(self, state: gr.State) -> None:
        self.state = state
        self.intro = gr.Markdown(self._intro("en"))
        self.audio = gr.Audio(label=t("en", "label_clip"), interactive=False, buttons=[],
                              elem_id="label-audio")
        self.choice = gr.Radio(emotion_choices("en"), label=t("en", "label_choice"),
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
        self.send_btn.click(self.send, [self.state, self.choice], self.outputs, api_name="label_send").then(
            None, js=page.AFTER_LABEL_JS)
        self.skip_btn.click(self.skip, [self.state], self.outputs, api_name="label_skip").then(
            None, js=page.AFTER_LABEL_JS)
        for event in signed_in:
            event.then(self.on_sign_in, [self.state], self.outputs, api_visibility="private")

    def relabel(self, tab_state: TabState) -> dict:
        lang = tab_state.lang
        return {
            self.intro: self._intro(lang),
            self.audio: gr.update(label=t(lang, "label_clip")),
            self.choice: gr.update(choices=emotion_choices(lang), label=t(lang, "label_choice")),
            self.send_btn: gr.update(value=t(lang, "send_label")),
            self.skip_btn: gr.update(value=t(lang, "skip")),
            self.count: t(lang, "label_votes", n=tab_state.labels_sent),
        }

    @staticmethod
    def _intro(lang: str) -> str:
        return f"{t(lang, 'labeling_intro')}\n\n{t(lang, 'label_keys')}"

    # -- handlers ------------------------------------------------------------------------------

    def _user(self, tab_state: TabState):
        try:
            return self.accounts.require_user(tab_state.user)
        except NotAllowed:
            raise gr.Error(t(tab_state.lang, "sign_in_first"), print_exception=False) from None

    def _show(self, tab_state: TabState, message: str) -> dict:
        """The clip the engine chose (or word that none is left), with a message."""
        sound = self.flow.audio(tab_state.labeling)
        if sound is None and not message:
            message = t(tab_state.lang, "label_none")
        return {self.state: tab_state, self.audio: sound, self.choice: None, self.message: message,
                self.count: t(tab_state.lang, "label_votes", n=tab_state.labels_sent)}

    def on_sign_in(self, tab_state: TabState) -> dict:
        """After a login attempt: the first clip if someone signed in, nothing otherwise."""
        if tab_state.user is None:
            return {self.state: tab_state}
        return self._show(replace(tab_state, labeling=self.flow.next(tab_state.user)), "")

    def send(self, tab_state: TabState, choice: str | None, request: gr.Request) -> dict:
        user = self._user(tab_state)
        if tab_state.labeling.clip_id is None:
            return self._show(replace(tab_state, labeling=self.flow.next(user)), "")
        if choice is None:
            return {self.message: t(tab_state.lang, "label_pick")}
        try:
            counted, turn = self.flow.vote(user, tab_state.labeling, choice,
                                           client_of(request, self.services.settings))
        except RateLimited:
            return {self.message: t(tab_state.lang, "rate_limited")}
        except UnknownEmotion:
            return {self.message: t(tab_state.lang, "label_pick")}
        tab_state = replace(tab_state, labeling=turn, labels_sent=tab_state.labels_sent + int(counted))
        return self._show(tab_state, t(tab_state.lang, "label_counted" if counted else "label_repeat"))

    def skip(self, tab_state: TabState) -> dict:
        user = self._user(tab_state)
        return self._show(replace(tab_state, labeling=self.flow.skip(user, tab_state.labeling)), "")
