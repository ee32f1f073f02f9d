"""The home page's login mock and the captcha panel: log in = credentials + a passed captcha.

The password is checked before the captcha starts but the outcome is told only after a pass, so a
guesser pays one captcha per guess. A failed captcha is a bot verdict with a cooldown.
"""

from __future__ import annotations

import math
from dataclasses import replace

import gradio as gr

from ...accounts import DEMO_PASSWORD, Accounts, normalize_username
from ...captcha import CaptchaError, NoClips, RoundView
from ...ratelimit import RateLimited
from ...services import Services
from ..client import client_of
from .common import MAX_CLIPS_PER_ROUND, TabState, session_key
from .texts import emotion_choices, percent, t


class LoginView:
    def __init__(self, services: Services, accounts: Accounts):
        self.services = services
        self.captcha = services.captcha
        self.accounts = accounts

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
            for i in range(MAX_CLIPS_PER_ROUND):
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
        policy = self.captcha.policy
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
        for i in range(MAX_CLIPS_PER_ROUND):
            out[self.audios[i]] = gr.update(label=t(lang, "clip", n=i + 1))
            out[self.choices[i]] = gr.update(choices=emotion_choices(lang), label=t(lang, "which_emotion"))
        return out

    @staticmethod
    def _round_text(tab_state: TabState) -> str:
        if not tab_state.challenge_id:
            return ""
        return t(tab_state.lang, "round", round=tab_state.round, max_rounds=tab_state.max_rounds)

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

    def _round_screen(self, tab_state: TabState, view: RoundView, feedback: str) -> dict:
        tab_state = replace(tab_state, challenge_id=view.challenge_id, slots=view.slots, round=view.round,
                        max_rounds=view.max_rounds)
        out = {self.state: tab_state, self.login_col: gr.update(visible=False),
               self.captcha_col: gr.update(visible=True), self.signed_col: gr.update(visible=False),
               self.login_msg: "", self.round_md: self._round_text(tab_state), self.feedback: feedback}
        for i, (group, audio, choice) in enumerate(zip(self.groups, self.audios, self.choices,
                                                       strict=True)):
            shown = i < len(view.slots)
            # The bytes the API would serve: re-encoded and varied per serving. Gradio caches them
            # under a hash of these bytes, so the URL names nothing about the clip.
            sound = self.captcha.audio(view.challenge_id, view.slots[i]) if shown else None
            out |= {group: gr.update(visible=shown), audio: sound, choice: None}
        return out

    def _signed_in_screen(self, tab_state: TabState) -> dict:
        out = self._login_screen(tab_state, "")
        out |= {self.login_col: gr.update(visible=False), self.signed_col: gr.update(visible=True),
                self.welcome: self._welcome(tab_state),
                self.admin_tab: gr.update(visible=tab_state.user is not None and tab_state.user.is_admin)}
        return out

    # -- handlers ------------------------------------------------------------------------------

    def start(self, tab_state: TabState, username: str, password: str, request: gr.Request) -> dict:
        """Log in: check the cooldown, take the credentials, and open a captcha."""
        lang = tab_state.lang
        tab_state = TabState(lang=lang)
        claimed = normalize_username(username)
        wait = self.accounts.cooldown_left(claimed, session_key(request))
        if wait > 0:
            return self._login_screen(tab_state, t(lang, "cooldown", seconds=math.ceil(wait)))
        client = client_of(request, self.services.settings.trusted_proxies)
        try:
            self.services.rate_limits.new_challenge(client)
        except RateLimited:
            return self._login_screen(tab_state, t(lang, "rate_limited"))
        pending = self.accounts.authenticate(username, password)
        try:
            view = self.captcha.create(client)
        except NoClips:
            return self._login_screen(tab_state, t(lang, "no_clips"))
        tab_state = replace(tab_state, claimed=claimed, pending=pending)
        return self._round_screen(tab_state, view, "")

    def answer(self, tab_state: TabState, first: str | None, second: str | None,
               request: gr.Request) -> dict:
        """Answer the round (one pick per clip shown); on a pass, redeem the token and sign in; on a
        fail, the bot verdict."""
        lang = tab_state.lang
        if tab_state.user is not None:
            return self._signed_in_screen(tab_state)  # a second click after the pass changes nothing
        if not tab_state.challenge_id:
            return self._login_screen(TabState(lang=lang), t(lang, "expired"))
        picks = (first, second)[: len(tab_state.slots)]
        if any(p is None for p in picks):
            return {self.feedback: t(lang, "pick_all")}
        client = client_of(request, self.services.settings.trusted_proxies)
        try:
            result = self.captcha.answer(tab_state.challenge_id, dict(zip(tab_state.slots, picks, strict=True)),
                                         client)
        except CaptchaError:
            return self._login_screen(TabState(lang=lang), t(lang, "expired"))
        if result.status == "retry":
            feedback = t(lang, "retry", round=result.round, max_rounds=tab_state.max_rounds)
            return self._round_screen(tab_state, result.next_round, feedback)
        if result.status == "failed":
            cooldown = self.accounts.mark_bot(tab_state.claimed, session_key(request))
            return self._login_screen(TabState(lang=lang),
                                      t(lang, "bot_verdict", seconds=math.ceil(cooldown)))
        # Passed: this app is the website of the pass token, so it verifies it as one would.
        verified, _ = self.captcha.verify_token(result.token)
        if not verified:
            return self._login_screen(TabState(lang=lang), t(lang, "expired"))
        if tab_state.pending is None:
            return self._login_screen(TabState(lang=lang), t(lang, "bad_credentials"))
        return self._signed_in_screen(TabState(lang=lang, user=tab_state.pending))

    def logout(self, tab_state: TabState) -> dict:
        return self._login_screen(TabState(lang=tab_state.lang), t(tab_state.lang, "logged_out"))
