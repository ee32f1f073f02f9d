"""The home page's login mock and the captcha panel. The flow (cooldown, rate limit, credentials,
captcha, token, session) is the engine's (insideout.login); this view only renders its steps."""

from __future__ import annotations

import math
from dataclasses import replace

import gradio as gr

from ... import login as flow
from ...accounts import DEMO_PASSWORD
from ...captcha import CLIPS_PER_ROUND
from ...login import LoginStep
from ...services import Services
from ..client import client_of
from .common import TabState, session_key
from .texts import emotion_choices, percent, t

# The text key of each refusal.
REFUSALS = {flow.COOLDOWN: "cooldown", flow.RATE_LIMITED: "rate_limited", flow.NO_CLIPS: "no_clips",
            flow.EXPIRED: "expired", flow.BOT: "bot_verdict", flow.BAD_CREDENTIALS: "bad_credentials",
            flow.PICK_ALL: "pick_all"}


class LoginView:
    def __init__(self, services: Services):
        self.services = services
        self.flow = services.login

    # -- layout --------------------------------------------------------------------------------

    def build(self, state: gr.State) -> None:
        """The login form and the captcha panel (the signed-in page is built by the caller)."""
        self.state = state
        with gr.Column() as self.login_col:
            self.intro = gr.Markdown(self._intro("en"))
            with gr.Row():
                self.username = gr.Textbox(label=t("en", "username"), max_lines=1, elem_id="username")
                self.password = gr.Textbox(label=t("en", "password"), type="password", max_lines=1,
                                           elem_id="password")
            self.login_btn = gr.Button(t("en", "login"), variant="primary", elem_id="login")
            self.login_msg = gr.Markdown(elem_id="login-message")
        with gr.Column(visible=False) as self.captcha_col:
            self.captcha_md = gr.Markdown(t("en", "captcha_title"))
            self.round_md = gr.Markdown(elem_id="round-counter")
            self.groups, self.audios, self.choices = [], [], []
            for i in range(CLIPS_PER_ROUND):
                with gr.Group(visible=False, elem_id=f"clip-{i}") as group:
                    audio = gr.Audio(label=t("en", "clip", n=i + 1), interactive=False,
                                     buttons=[], elem_classes=["challenge-audio"])
                    choice = gr.Radio(emotion_choices("en"), label=t("en", "which_emotion"),
                                      elem_classes=["emotion-choices"])
                self.groups.append(group)
                self.audios.append(audio)
                self.choices.append(choice)
            self.submit_btn = gr.Button(t("en", "submit"), variant="primary", elem_id="submit")
            self.feedback = gr.Markdown(elem_id="feedback")

    def build_signed_header(self) -> None:
        self.welcome = gr.Markdown(elem_id="welcome")
        self.logout_btn = gr.Button(t("en", "logout"), size="sm", elem_id="logout")

    def attach(self, signed_col: gr.Column, admin_tab: gr.Tab) -> None:
        """The signed-in page and the admin tab, which the login handlers show and hide."""
        self.signed_col = signed_col
        self.admin_tab = admin_tab

    @property
    def outputs(self) -> list:
        return [self.state, self.login_col, self.captcha_col, self.signed_col, self.login_msg,
                self.round_md, *self.groups, *self.audios, *self.choices, self.feedback, self.welcome,
                self.admin_tab, self.password]

    def wire(self) -> tuple:
        """The events; returns those after which the signed-in views may have to load."""
        login = self.login_btn.click(self.start, [self.state, self.username, self.password],
                                     self.outputs, api_name="login")
        self.password.submit(self.start, [self.state, self.username, self.password], self.outputs,
                             api_visibility="private")
        answered = self.submit_btn.click(self.answer, [self.state, *self.choices], self.outputs,
                                         api_name="answer")
        self.logout_btn.click(self.logout, [self.state], self.outputs, api_name="logout")
        return login, answered

    # -- texts ---------------------------------------------------------------------------------

    def _intro(self, lang: str) -> str:
        policy = self.services.captcha.policy
        return t(lang, "login_intro", demo=DEMO_PASSWORD, need=policy.rounds_to_pass,
                 rounds=policy.max_rounds, chance=percent(policy.chance_pass_probability()))

    def relabel(self, tab_state: TabState) -> dict:
        lang = tab_state.lang
        out = {
            self.intro: self._intro(lang),
            self.username: gr.update(label=t(lang, "username")),
            self.password: gr.update(label=t(lang, "password")),
            self.login_btn: gr.update(value=t(lang, "login")),
            self.captcha_md: t(lang, "captcha_title"),
            self.submit_btn: gr.update(value=t(lang, "submit")),
            self.logout_btn: gr.update(value=t(lang, "logout")),
            self.round_md: self._round_text(tab_state),
            self.welcome: self._welcome(tab_state),
        }
        for i in range(CLIPS_PER_ROUND):
            out[self.audios[i]] = gr.update(label=t(lang, "clip", n=i + 1))
            out[self.choices[i]] = gr.update(choices=emotion_choices(lang), label=t(lang, "which_emotion"))
        return out

    @staticmethod
    def _round_text(tab_state: TabState) -> str:
        if tab_state.login is None:
            return ""
        view = tab_state.login.round
        return t(tab_state.lang, "round", round=view.round, max_rounds=view.max_rounds)

    @staticmethod
    def _welcome(tab_state: TabState) -> str:
        if tab_state.user is None:
            return ""
        return t(tab_state.lang, "signed_in", name=tab_state.user.username,
                 role=t(tab_state.lang, f"role_{tab_state.user.role}"))

    # -- screens -------------------------------------------------------------------------------

    def _login_screen(self, tab_state: TabState, message: str) -> dict:
        out = {self.state: tab_state, self.login_col: gr.update(visible=True),
               self.captcha_col: gr.update(visible=False), self.signed_col: gr.update(visible=False),
               self.login_msg: message, self.round_md: "", self.feedback: "", self.welcome: "",
               self.admin_tab: gr.update(visible=False), self.password: ""}
        for group, audio, choice in zip(self.groups, self.audios, self.choices, strict=True):
            out |= {group: gr.update(visible=False), audio: None, choice: None}
        return out

    def _round_screen(self, tab_state: TabState, feedback: str) -> dict:
        out = {self.state: tab_state, self.login_col: gr.update(visible=False),
               self.captcha_col: gr.update(visible=True), self.signed_col: gr.update(visible=False),
               self.login_msg: "", self.round_md: self._round_text(tab_state), self.feedback: feedback}
        attempt = tab_state.login
        for i, (group, audio, choice) in enumerate(zip(self.groups, self.audios, self.choices,
                                                       strict=True)):
            shown = i < len(attempt.round.slots)
            # The bytes the API would serve: re-encoded and varied per serving. Gradio caches them
            # under a hash of these bytes, so the URL names nothing about the clip.
            sound = self.flow.audio(attempt, i) if shown else None
            out |= {group: gr.update(visible=shown), audio: sound, choice: None}
        return out

    def _signed_in_screen(self, tab_state: TabState) -> dict:
        out = self._login_screen(tab_state, "")
        out |= {self.login_col: gr.update(visible=False), self.signed_col: gr.update(visible=True),
                self.welcome: self._welcome(tab_state),
                self.admin_tab: gr.update(visible=tab_state.user is not None and tab_state.user.is_admin)}
        return out

    # -- handlers ------------------------------------------------------------------------------

    def _refusal(self, lang: str, step: LoginStep) -> str:
        return t(lang, REFUSALS[step.reason], seconds=math.ceil(step.wait_s))

    def start(self, tab_state: TabState, username: str, password: str, request: gr.Request) -> dict:
        """Log in: the engine checks the cooldown and the rate limit, takes the credentials, opens a captcha."""
        lang = tab_state.lang
        step = self.flow.start(username, password, client_of(request, self.services.settings.trusted_proxies),
                               session_key(request))
        if step.status != "round":
            return self._login_screen(TabState(lang=lang), self._refusal(lang, step))
        return self._round_screen(TabState(lang=lang, login=step.attempt), "")

    def answer(self, tab_state: TabState, first: str | None, second: str | None,
               request: gr.Request) -> dict:
        """Answer the round (one pick per clip shown); a pass signs in, a fail is the bot verdict."""
        lang = tab_state.lang
        if tab_state.user is not None:
            return self._signed_in_screen(tab_state)  # a second click after the pass changes nothing
        step = self.flow.answer(tab_state.login, (first, second),
                                client_of(request, self.services.settings.trusted_proxies), session_key(request))
        if step.status == "round":
            view = step.attempt.round
            feedback = t(lang, "retry" if step.retry else "next_round", round=view.round, max_rounds=view.max_rounds)
            return self._round_screen(replace(tab_state, login=step.attempt), feedback)
        if step.status == "signed_in":
            return self._signed_in_screen(TabState(lang=lang, user=step.session))
        if step.attempt is not None:  # the same round can still be answered
            return {self.feedback: self._refusal(lang, step)}
        return self._login_screen(TabState(lang=lang), self._refusal(lang, step))

    def logout(self, tab_state: TabState) -> dict:
        return self._login_screen(TabState(lang=tab_state.lang), t(tab_state.lang, "logged_out"))
