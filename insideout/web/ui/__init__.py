"""The Gradio app: home with the login form and its captcha widget, the labeling view and the admin dashboard.

Handlers call the engine (the login and labeling flows, the dashboard, the sites, generation, retraining) and
only arrange its results for the page; no handler touches the database. Per-tab state is a gr.State (TabState),
which Gradio keeps on the server; the signed session token is a gr.BrowserState, which the browser keeps.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import gradio as gr

from ...services import Services
from .admin import AdminView
from .common import TabState, use_private_temp_dir
from .labeling import LabelingView
from .login import LoginView
from .page import SET_LANG_JS, page_script
from .texts import LANG_CHOICES, LANGS, t


@dataclass
class Ui:
    blocks: gr.Blocks
    state: gr.State
    title: gr.Markdown
    lang: gr.Radio
    label_tab: gr.Tab
    admin_tab: gr.Tab
    login: LoginView
    labeling: LabelingView
    admin: AdminView

    def set_lang(self, tab_state: TabState, lang: str) -> dict:
        """Switch every text of the page to English or Korean."""
        tab_state = replace(tab_state, lang=lang if lang in LANGS else "en")
        out = {self.state: tab_state, self.title: t(tab_state.lang, "title"),
               self.lang: gr.update(label=t(tab_state.lang, "language")),
               self.label_tab: gr.update(label=t(tab_state.lang, "labeling_tab")),
               self.admin_tab: gr.update(label=t(tab_state.lang, "admin_tab"))}
        for view in (self.login, self.labeling, self.admin):
            out |= view.relabel(tab_state)
        return out


def build_ui(services: Services) -> Ui:
    use_private_temp_dir(services.settings)
    # The dashboard's statistics take seconds to import and to estimate: now, not at the admin's first look.
    threading.Thread(target=services.dashboard.warm_up, name="insideout-warm-up", daemon=True).start()
    login = LoginView(services)
    labeling = LabelingView(services)
    admin = AdminView(services)
    # delete_cache: served clips pile up in Gradio's cache; drop those older than an hour.
    with gr.Blocks(title="InsideOut", delete_cache=(1800, 3600)) as blocks:
        state = gr.State(TabState(), time_to_live=3600)
        page_script()
        with gr.Row(equal_height=True):
            title = gr.Markdown(t("en", "title"), elem_id="title")
            lang = gr.Radio(LANG_CHOICES, value="en", label=t("en", "language"), scale=0,
                            min_width=200, elem_id="language")
        login.build(state)
        with gr.Column(visible=False) as signed_col:
            login.build_signed_header()
            with gr.Tabs():
                with gr.Tab(t("en", "labeling_tab"), id="labeling") as label_tab:
                    labeling.build(state)
                with gr.Tab(t("en", "admin_tab"), id="admin", visible=False) as admin_tab:
                    admin.build(state)
        login.attach(signed_col, admin_tab)
        ui = Ui(blocks, state, title, lang, label_tab, admin_tab, login, labeling, admin)
        labeling.wire(*login.wire(blocks))
        admin.wire(admin_tab)
        relabeled = list(ui.set_lang(TabState(), "en"))
        lang.change(ui.set_lang, [state, lang], relabeled, api_name="language").then(
            admin.redraw, admin.filters, admin.dashboard, api_visibility="private")  # the charts' words too
        lang.change(None, [lang], None, js=SET_LANG_JS)  # the page's lang attribute, and the widget's language
    return ui


def build_blocks(services: Services) -> gr.Blocks:
    return build_ui(services).blocks
