"""The home page's login form: user name, password and the captcha widget, as any website embeds it.

The widget (widget.js of this same app, site `builtin`, action `login`) plays the captcha through the HTTP
API; the login event takes its pass token with the credentials, and the engine (insideout.login) redeems it
with siteverify before it looks at the credentials. This view only renders the engine's steps, keeps the
signed session token in the browser (a reload restores the session) and clears it on logout.
"""

from __future__ import annotations

import math

import gradio as gr

from ... import login as flow
from ...accounts import DEMO_PASSWORD
from ...login import LoginStep
from ...services import Services
from ..client import client_of
from . import page
from .common import TabState
from .texts import percent, t

BUILTIN_SITEKEY = "builtin"  # insideout.sites.BUILTIN_SITEKEY: the app's own site
SESSION_STORAGE_KEY = "insideout-session"
# gr.BrowserState encrypts with a key it sends to the page in its config: no protection, whatever it is. What
# protects the kept session is its own HMAC (insideout.accounts.sign_session). A fixed key lets a session
# outlive a server restart.
SESSION_STORAGE_SECRET = "insideout-session-token"

# The text key of each refusal.
REFUSALS = {flow.RATE_LIMITED: "rate_limited", flow.CAPTCHA_NEEDED: "captcha_needed", flow.EXPIRED: "expired",
            flow.CAPTCHA_REFUSED: "captcha_refused", flow.BAD_CREDENTIALS: "bad_credentials"}


class LoginView:
    def __init__(self, services: Services):
        self.services = services
        self.flow = services.login

    # -- layout --------------------------------------------------------------------------------

    def build(self, state: gr.State) -> None:
        """The login form (the signed-in page is built by the caller)."""
        self.state = state
        self.kept = gr.BrowserState("", storage_key=SESSION_STORAGE_KEY, secret=SESSION_STORAGE_SECRET)
        with gr.Column() as self.login_col:
            self.intro = gr.Markdown(self._intro("en"))
            with gr.Row():
                self.username = gr.Textbox(label=t("en", "username"), max_lines=1, elem_id="username",
                                           html_attributes=gr.InputHTMLAttributes(autocomplete="username",
                                                                                  autocapitalize="none",
                                                                                  spellcheck=False))
                self.password = gr.Textbox(label=t("en", "password"), type="password", max_lines=1,
                                           elem_id="password",
                                           html_attributes=gr.InputHTMLAttributes(autocomplete="current-password"))
            self.captcha = page.widget(BUILTIN_SITEKEY, flow.ACTION)
            # Filled from the widget as the login event is sent (page.TAKE_TOKEN_JS); an API client passes it.
            self.token = gr.Textbox(visible=False, label="insideout-response")
            self.login_btn = gr.Button(t("en", "login"), variant="primary", elem_id="login")
            self.login_msg = gr.Markdown(elem_id="login-message")

    def build_signed_header(self) -> None:
        self.welcome = gr.Markdown(elem_id="welcome")
        self.logout_btn = gr.Button(t("en", "logout"), size="sm", elem_id="logout")

    def attach(self, signed_col: gr.Column, admin_tab: gr.Tab) -> None:
        """The signed-in page and the admin tab, which the login handlers show and hide."""
        self.signed_col = signed_col
        self.admin_tab = admin_tab

    @property
    def outputs(self) -> list:
        return [self.state, self.kept, self.login_col, self.signed_col, self.login_msg, self.welcome,
                self.admin_tab, self.password, self.token]

    def wire(self, blocks: gr.Blocks) -> tuple:
        """The events; returns those after which the signed-in views may have to load."""
        inputs = [self.state, self.username, self.password, self.token]
        login = self.login_btn.click(self.sign_in, inputs, self.outputs, api_name="login", js=page.TAKE_TOKEN_JS)
        login.then(None, js=page.AFTER_LOGIN_JS)
        entered = self.password.submit(self.sign_in, inputs, self.outputs, api_visibility="private",
                                       js=page.TAKE_TOKEN_JS)
        entered.then(None, js=page.AFTER_LOGIN_JS)
        self.logout_btn.click(self.logout, [self.state, self.kept], self.outputs, api_name="logout").then(
            None, js=page.AFTER_LOGOUT_JS)
        restored = blocks.load(self.restore, [self.state, self.kept], self.outputs, api_visibility="private")
        return login, entered, restored

    # -- texts ---------------------------------------------------------------------------------

    def _intro(self, lang: str) -> str:
        policy = self.services.captcha.policy
        return t(lang, "login_intro", demo=DEMO_PASSWORD, need=policy.rounds_to_pass,
                 rounds=policy.max_rounds, chance=percent(policy.chance_pass_probability()))

    def relabel(self, tab_state: TabState) -> dict:
        lang = tab_state.lang
        return {
            self.intro: self._intro(lang),
            self.username: gr.update(label=t(lang, "username")),
            self.password: gr.update(label=t(lang, "password")),
            self.login_btn: gr.update(value=t(lang, "login")),
            self.logout_btn: gr.update(value=t(lang, "logout")),
            self.welcome: self._welcome(tab_state),
        }

    @staticmethod
    def _welcome(tab_state: TabState) -> str:
        if tab_state.user is None:
            return ""
        return t(tab_state.lang, "signed_in", name=tab_state.user.username,
                 role=t(tab_state.lang, f"role_{tab_state.user.role}"))

    # -- screens -------------------------------------------------------------------------------

    def _login_screen(self, tab_state: TabState, message: str, clear_password: bool = True) -> dict:
        return {self.state: tab_state, self.kept: gr.skip(), self.login_col: gr.update(visible=True),
                self.signed_col: gr.update(visible=False), self.login_msg: message, self.welcome: "",
                self.admin_tab: gr.update(visible=False), self.password: "" if clear_password else gr.skip(),
                self.token: ""}

    def _signed_in_screen(self, tab_state: TabState) -> dict:
        out = self._login_screen(tab_state, "")
        out |= {self.login_col: gr.update(visible=False), self.signed_col: gr.update(visible=True),
                self.welcome: self._welcome(tab_state),
                self.admin_tab: gr.update(visible=tab_state.user is not None and tab_state.user.is_admin)}
        return out

    # -- handlers ------------------------------------------------------------------------------

    def _refusal(self, lang: str, step: LoginStep) -> str:
        return t(lang, REFUSALS[step.reason], seconds=math.ceil(step.wait_s))

    def sign_in(self, tab_state: TabState, username: str, password: str, token: str,
                request: gr.Request) -> dict:
        """Log in: the engine redeems the widget's token, then checks the credentials."""
        lang = tab_state.lang
        if tab_state.user is not None:
            return self._signed_in_screen(tab_state)  # a second click after the sign-in changes nothing
        step = self.flow.sign_in(username, password, token,
                                 client_of(request, self.services.settings))
        if not step.signed_in:
            # The password is kept when no token was spent on it (the person only forgot the captcha).
            spent = step.reason in (flow.BAD_CREDENTIALS, flow.EXPIRED, flow.CAPTCHA_REFUSED)
            return self._login_screen(TabState(lang=lang), self._refusal(lang, step), clear_password=spent)
        out = self._signed_in_screen(TabState(lang=lang, user=step.session))
        out[self.kept] = step.session_token or ""
        return out

    def restore(self, tab_state: TabState, kept: str | None) -> dict:
        """On page load: the session the browser kept, if its token still holds; else the login form."""
        if tab_state.user is not None:
            return self._signed_in_screen(tab_state)
        session = self.flow.restore(kept)
        if session is None:
            out = self._login_screen(tab_state, "", clear_password=False)
            out[self.kept] = "" if kept else gr.skip()  # forget a token that no longer holds
            return out
        return self._signed_in_screen(TabState(lang=tab_state.lang, user=session))

    def logout(self, tab_state: TabState, kept: str | None) -> dict:
        self.flow.sign_out(kept)
        out = self._login_screen(TabState(lang=tab_state.lang), t(tab_state.lang, "logged_out"))
        out[self.kept] = ""
        return out
