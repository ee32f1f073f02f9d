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
from .common import Visit
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

    def relabel(self, visit: Visit) -> dict:
        lang = visit.lang
        return {
            self.intro: t(lang, "labeling_intro"),
            self.audio: gr.update(label=t(lang, "label_clip")),
            self.choice: gr.update(choices=emotion_choices(lang), label=t(lang, "which_emotion")),
            self.send_btn: gr.update(value=t(lang, "send_label")),
            self.skip_btn: gr.update(value=t(lang, "skip")),
            self.count: t(lang, "label_votes", n=visit.labels_sent),
        }

    # -- handlers ------------------------------------------------------------------------------

    def _user(self, visit: Visit):
        try:
            return self.accounts.require_user(visit.user)
        except NotAllowed:
            raise gr.Error(t(visit.lang, "sign_in_first"), print_exception=False) from None

    def _next(self, visit: Visit, message: str) -> dict:
        """Show the unverified clip that needs votes most and this person has not voted on."""
        user = visit.user
        clip_id = self.library.pick_unverified(list(visit.skipped), user.username)
        if clip_id is None and visit.skipped:
            # Everything left was skipped: offer the skipped clips again.
            visit = replace(visit, skipped=())
            clip_id = self.library.pick_unverified([], user.username)
        visit = replace(visit, label_clip=clip_id)
        sound = None
        if clip_id is not None:
            # Varied per serving like challenge audio: the same clip may later be a control clip.
            sound = wav.encode(wav.vary_for_serving(self.library.pcm(clip_id), np.random.default_rng()))
        elif not message:
            message = t(visit.lang, "label_none")
        return {self.state: visit, self.audio: sound, self.choice: None, self.message: message,
                self.count: t(visit.lang, "label_votes", n=visit.labels_sent)}

    def on_sign_in(self, visit: Visit) -> dict:
        """After a login attempt: the first clip if someone signed in, nothing otherwise."""
        if visit.user is None:
            return {self.state: visit}
        return self._next(visit, "")

    def send(self, visit: Visit, choice: str | None) -> dict:
        user = self._user(visit)
        if visit.label_clip is None:
            return self._next(visit, "")
        if choice is None:
            return {self.message: t(visit.lang, "label_pick")}
        emotion(choice)  # refuses anything but the eight ids
        counted = self.consensus.record([Vote(visit.label_clip, user.username, choice, True, "labeling")])
        visit = replace(visit, labels_sent=visit.labels_sent + int(counted[0]))
        return self._next(visit, t(visit.lang, "label_counted" if counted[0] else "label_repeat"))

    def skip(self, visit: Visit) -> dict:
        self._user(visit)
        if visit.label_clip is not None:
            visit = replace(visit, skipped=(*visit.skipped, visit.label_clip))
        return self._next(visit, "")
