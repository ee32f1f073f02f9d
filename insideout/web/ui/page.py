"""The page's own scripts: the embedded widget of the login form, and what WCAG 2.2 AA asks of the Gradio
views that Gradio's components do not do by themselves.

`create_app` (the lead's) mounts the Blocks without `head`/`js`/`css`, so everything here reaches the page
through gr.HTML components: their `head` loads a script once, their `js_on_load` runs when they mount.

- The widget: `widget.js` of this same app (`?render=explicit`: Gradio renders the form after the script
  loads, so the view renders the widget itself, in Gradio's light or dark theme, again when the form
  reappears after a logout, and again in the page's language when it changes). The login event reads the
  widget's response as it is sent.
- Live regions: the messages after an action (login, labeling, sites) are `role="status"`.
- Names: each radio group is named by its visible label and is one native group (arrow keys move within it,
  one tab stop); each audio player's play button names its clip ("Play: Clip to label"); Gradio's empty
  placeholders get the role their aria-label needs, an empty plot's unlabelled marks are hidden, and a table's
  first column header takes the keyboard focus, so that a table wider than the page can be scrolled.
- Keys: in the labeling view, 1-8 pick the emotion in the order listed (not while typing in a field).
- Contrast: Gradio's audio timestamps and playback-speed text are lighter than 4.5:1 on the default theme.
- Focus: helpers the views call after an action (`window.insideoutUi.focus...`).
"""

from __future__ import annotations

import gradio as gr


def charts_chunk() -> str:
    """The file name of Gradio's chart chunk (vega-embed for gr.Plot), "" if this Gradio has none by that name."""
    from pathlib import Path

    found = sorted((Path(gr.__file__).parent / "templates" / "frontend" / "assets").glob("AltairPlot-*.js"))
    return found[0].name if found else ""


WIDGET_SRC = "widget.js?render=explicit"  # relative to the page, so that a path prefix in front of the app works

# Contrast (WCAG 1.4.3, 4.5:1) where Gradio's default theme falls short: white on its orange primary buttons
# (about 2.8:1) and on its red stop buttons (3.8:1) get darker fills (orange-700 5.2:1, red-700 6.5:1, hover
# darker still), a selected tab's orange name (2.8:1) turns orange-700 (orange-400 in the dark theme), and the
# audio player's small texts (--neutral-400, about 2.6:1), the JSON viewer's keys, the sliders' bounds and the
# subdued notes of the dashboard take the body text colour. The dashboard's HTML tables (.io-table) draw in
# the theme's own colours.
# The live regions never scroll (an empty Markdown block with Gradio's progress text in it would scroll, and a
# scrolling region must be reachable by keyboard: WCAG 2.1.1).
CSS = """
.gradio-container {
  --button-primary-background-fill: #c2410c; --button-primary-background-fill-hover: #9a3412;
  --button-primary-text-color: #ffffff; --button-primary-text-color-hover: #ffffff;
  --button-cancel-background-fill: #b91c1c; --button-cancel-background-fill-hover: #991b1b;
  --button-cancel-text-color: #ffffff; --button-cancel-text-color-hover: #ffffff;
}
.gradio-container time, .gradio-container .playback > span, .gradio-container .playback {
  color: var(--body-text-color) !important;
}
.gradio-container [data-testid="block-info"] { color: var(--body-text-color); }
.gradio-container .json-node .key, .gradio-container [data-testid="max-value"],
.gradio-container [data-testid="min-value"], .gradio-container .subdued { color: var(--body-text-color) !important; }
#login-message, #label-message, #admin-sites-message { overflow: visible !important; }
.gradio-container .io-table { max-height: 320px; overflow: auto; margin: 0; border: 1px solid
  var(--border-color-primary); border-radius: var(--radius-md); }
.gradio-container .io-table table { border-collapse: collapse; width: 100%; margin: 0; border: none;
  font-size: var(--text-sm); }
.gradio-container .io-table caption { text-align: left; padding: 6px 8px; margin: 0; font-weight: 600;
  color: var(--body-text-color); }
.gradio-container .io-table th, .gradio-container .io-table td { padding: 4px 8px; border: none;
  border-bottom: 1px solid var(--border-color-primary); text-align: left; white-space: nowrap;
  color: var(--body-text-color); }
.gradio-container .io-table tr { border: none; }
.gradio-container .html-container:has(.io-table) { padding: 0; }
.gradio-container .io-table th { position: sticky; top: 0; background: var(--background-fill-secondary); }
.gradio-container .io-table .num { text-align: right; font-variant-numeric: tabular-nums; }
.gradio-container .io-table:focus-visible { outline: 2px solid #c2410c; outline-offset: 2px; }
.gradio-container button[role="tab"].selected { color: #c2410c; }
.dark .gradio-container button[role="tab"].selected { color: #fb923c; }
"""

PAGE_JS = """
if (!window.insideoutUi) {
  const CSS = %CSS%;
  const CHARTS = %CHARTS%;
  const style = document.createElement('style');
  style.textContent = CSS;
  document.head.appendChild(style);
  const LIVE = ['#login-message', '#label-message', '#admin-sites-message'];
  const typing = (t) => t && (t.isContentEditable || /^(TEXTAREA|SELECT)$/.test(t.tagName)
    || (t.tagName === 'INPUT' && !/^(radio|checkbox|button|submit)$/.test(t.type)));
  const visible = (el) => el && el.isConnected && el.offsetParent !== null;
  let groups = 0;
  const fix = () => {
    for (const sel of LIVE) {
      const el = document.querySelector(sel);
      if (el && el.getAttribute('role') !== 'status') {
        el.setAttribute('role', 'status');
        el.setAttribute('aria-live', 'polite');
        el.setAttribute('aria-atomic', 'true');
      }
    }
    for (const set of document.querySelectorAll('fieldset')) {
      const radios = set.querySelectorAll('input[type=radio]');
      const info = set.querySelector('[data-testid=block-info]');
      if (!radios.length) continue;
      if (!set.dataset.ioGroup) set.dataset.ioGroup = 'io-group-' + (++groups);
      const name = set.dataset.ioGroup;
      if (info) {
        if (!info.id) info.id = name + '-name';
        if (set.getAttribute('aria-labelledby') !== info.id) set.setAttribute('aria-labelledby', info.id);
      }
      for (const r of radios) if (r.name !== name) r.name = name;
    }
    // Gradio's empty-value placeholders carry an aria-label without a role (not allowed): name them as images.
    for (const e of document.querySelectorAll('.empty[aria-label]:not([role])')) e.setAttribute('role', 'img');
    // An empty plot's mark containers are unlabelled graphics: they show nothing, so they are hidden.
    for (const g of document.querySelectorAll('svg g[role="graphics-symbol"]:not([aria-label]):not([aria-hidden])')) {
      if (!g.childElementCount) g.setAttribute('aria-hidden', 'true');
    }
    // gr.Plot's charts come with vega-embed's actions menu: an unnamed <summary> (no text for a screen reader)
    // whose "Open in Vega Editor" would post the admin's data to another site. The dashboard's charts drop it.
    for (const d of document.querySelectorAll('.vega-embed > details')) d.remove();
    // A table that scrolls is reachable by keyboard (WCAG 2.1.1): its first column header takes the focus (one
    // tab stop per table; the arrow keys then scroll it). Its viewport keeps role none, as the grid needs.
    for (const v of document.querySelectorAll('.virtual-table-viewport')) {
      const th = v.querySelector('th, [role=columnheader]');
      if (th && !v.querySelector('[tabindex="0"]')) th.setAttribute('tabindex', '0');
    }
    for (const block of document.querySelectorAll('.block')) {
      const label = block.querySelector(':scope > label[data-testid=block-label]');
      if (!label) continue;
      const clip = label.textContent.trim();
      for (const b of block.querySelectorAll('button[aria-label]')) {
        const a = b.getAttribute('aria-label');
        const word = a.split(': ')[0];
        if (/^(Play|Pause)$/.test(word) && a !== word + ': ' + clip) b.setAttribute('aria-label', word + ': ' + clip);
      }
    }
  };
  let pending = false;
  const later = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; fixAll(); });
  };
  // The charts' library (Gradio's Vega chunk, about 0.7 MB) is fetched and run once the Admin tab shows, so
  // that the admin's first look at the dashboard does not wait for it. Nobody else loads it.
  let chartsLoaded = !CHARTS;
  const loadCharts = () => {
    if (chartsLoaded || !visible(document.querySelector('button[data-tab-id="admin"]'))) return;
    const asset = document.querySelector('script[src*="/assets/"], link[href*="/assets/"]');
    if (!asset) return;
    chartsLoaded = true;
    const url = new URL(asset.getAttribute('src') || asset.getAttribute('href'), location.href);
    window.insideoutUi.charts = 'loading';
    import(new URL(CHARTS, url).href).then(() => { window.insideoutUi.charts = 'ready'; },
                                          () => { window.insideoutUi.charts = 'failed'; });
  };
  const fixAll = () => { fix(); loadCharts(); };
  new MutationObserver(later).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                        attributeFilter: ['aria-label', 'name', 'tabindex']});
  fix();
  document.addEventListener('keydown', (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey || !/^[1-8]$/.test(e.key) || typing(e.target)) return;
    const group = document.querySelector('#label-choice');
    if (!visible(group)) return;
    const input = group.querySelectorAll('input[type=radio]')[Number(e.key) - 1];
    if (!input) return;
    e.preventDefault();
    input.click();
    input.focus();
  });
  const focusWhenThere = (find, tries) => {
    const el = find();
    if (el) { el.focus(); return; }
    if (tries > 0) setTimeout(() => focusWhenThere(find, tries - 1), 50);
  };
  const focusable = (sel) => {
    const el = document.querySelector(sel);
    if (el && !el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
    return visible(el) ? el : null;
  };
  window.insideoutUi = {
    fix,
    focus: (sel) => focusWhenThere(() => focusable(sel), 40),
    // After a label or a skip: the new clip's play button (or the message when no clip is left). Gradio
    // replaces the player when the clip arrives, dropping the focus with it: for 3 s, focus lost to the page
    // (or still on the button that was pressed) goes to the play button; focus the person moved is left alone.
    focusClip: () => {
      const start = document.activeElement;
      let n = 0;
      const step = () => {
        const a = document.activeElement;
        if (!a || a === document.body || a === start || !a.isConnected) {
          const play = document.querySelector('#label-audio button[aria-label^="Play"]');
          const message = focusable('#label-message');
          if (visible(play)) play.focus();
          else if (n > 20 && message && message.textContent.trim()) message.focus();
        }
        if (++n < 40) setTimeout(step, 75);
      };
      step();
    },
    setLang: (lang) => { document.documentElement.lang = lang === 'ko' ? 'ko' : 'en'; },
  };
}
""".replace("%CSS%", repr(CSS.strip()).replace("\\n", " ")).replace("%CHARTS%", repr(charts_chunk()))

# The login form's widget: rendered explicitly into the div (which Gradio creates after widget.js has loaded).
WIDGET_JS = """
const box = element.querySelector('.insideout-captcha');
const api = window.insideoutLogin && window.insideoutLogin.box === box ? window.insideoutLogin : {box, id: null};
api.render = () => {
  if (!window.insideout || !box || !box.isConnected) return false;
  if (api.id !== null) { try { window.insideout.remove(api.id); } catch (e) {} }
  const dark = !!document.querySelector('html.dark, body.dark, .gradio-container.dark');  // Gradio's theme
  api.id = window.insideout.render(box, {sitekey: box.dataset.sitekey, action: box.dataset.action,
                                         lang: document.documentElement.lang === 'ko' ? 'ko' : 'en',
                                         theme: dark ? 'dark' : 'light'});
  return true;
};
api.response = () => {
  try { return api.id !== null && window.insideout ? (window.insideout.getResponse(api.id) || '') : ''; }
  catch (e) { return ''; }
};
api.reset = () => { try { if (api.id !== null && window.insideout) window.insideout.reset(api.id); } catch (e) {} };
api.relang = () => { if (!api.response()) api.render(); };
window.insideoutLogin = api;
(function wait(n) { if (!api.render() && n > 0) setTimeout(() => wait(n - 1), 100); })(200);
"""

# The login event's inputs end with the token field: fill it from the widget as the event is sent.
TAKE_TOKEN_JS = """
(...args) => {
  args[args.length - 1] = window.insideoutLogin ? window.insideoutLogin.response() : '';
  return args;
}
"""

# After a login attempt: a spent token is no use again, so a widget that held one starts over; focus goes to
# the welcome on a sign-in (the message, a live region, says any refusal by itself).
AFTER_LOGIN_JS = """
() => {
  const w = window.insideoutLogin;
  if (w && w.response()) w.reset();
  if (window.insideoutUi) window.insideoutUi.focus('#welcome');
}
"""

AFTER_LOGOUT_JS = "() => { if (window.insideoutUi) window.insideoutUi.focus('#username textarea, #username input'); }"

AFTER_LABEL_JS = "() => { if (window.insideoutUi) window.insideoutUi.focusClip(); }"

SET_LANG_JS = """
(lang) => {
  if (window.insideoutUi) window.insideoutUi.setLang(lang);
  else document.documentElement.lang = lang === 'ko' ? 'ko' : 'en';
  if (window.insideoutLogin) window.insideoutLogin.relang();
}
"""


def page_script() -> gr.HTML:
    """The component that runs PAGE_JS once the page mounts (it shows nothing)."""
    return gr.HTML("", js_on_load=PAGE_JS, elem_id="page-script", padding=False, container=False)


def widget(sitekey: str, action: str) -> gr.HTML:
    """The widget's place in a form, with widget.js loaded once through the page's head."""
    return gr.HTML(f'<div class="insideout-captcha" data-sitekey="{sitekey}" data-action="{action}"></div>',
                   head=f'<script src="{WIDGET_SRC}" async></script>', js_on_load=WIDGET_JS,
                   elem_id="login-captcha", padding=False, container=False)
