"""Benchmark the embeddable widget: widget.js's size, and how soon a visitor can answer a round, beside the app's
own (Gradio) login page.

Starts the app (`insideout serve` in a subprocess) on loopback with a fresh data dir stocked with a few synthetic
2 s clips and one registered site, then drives Chromium through Playwright, each repetition in a fresh browser
context (nothing cached):

- widget: a plain page of the site (served from another loopback port: the site's origin) inserts the script
  tag of {base}/widget.js; timed from that insertion to the start button, and to an interactive round (the start
  button is pressed at once: the first radio enabled and every clip's audio able to play);
- Gradio: the app's home page (its login form embeds the same widget, site `builtin`); timed from navigation
  to the login form's button, to the widget's start button, and to an interactive round (the same rule).

    insideout bench-widget [--repeat 10] [--browser /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

from insideout.cli import SOME_FAILED, CommandError

if TYPE_CHECKING:
    from insideout.cli import Context

WIDGET_JS = Path(__file__).resolve().parents[1] / "web" / "static" / "widget.js"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000

HOST_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>bench</title></head>
<body><form><input name="user" aria-label="user"><div class="insideout-captcha" data-sitekey="{sitekey}"></div>
<button>Sign in</button></form></body></html>"""

# In the page: resolves with the milliseconds (performance.now) at which the widget in `host` shows its start
# button, presses it, and resolves with when the round is interactive. Polled every few ms: a shadow root's
# changes are not seen by an observer of the document.
ROUND_JS = """
window.__ioRound = (host) => new Promise((done, fail) => {
  const out = {};
  const deadline = performance.now() + TIMEOUT;
  (function poll() {
    const el = document.querySelector(host);
    const root = el && el.shadowRoot;
    if (root && out.start === undefined) {
      const start = root.querySelector('button.pri');
      if (start) { out.start = performance.now(); start.click(); }
    }
    if (out.start !== undefined) {
      const radio = root.querySelector('input[type=radio]');
      const plays = root.querySelectorAll('fieldset > button');
      if (radio && !radio.disabled && plays.length && [...plays].every(b => b.hasAttribute('data-ready'))) {
        out.round = performance.now();
        return done(out);
      }
      const message = root.querySelector('.msg.bad');
      if (message && message.textContent) return fail(new Error('the widget said: ' + message.textContent));
    }
    if (performance.now() > deadline) return fail(new Error('no interactive round in time'));
    setTimeout(poll, 4);
  })();
});
""".replace("TIMEOUT", str(TIMEOUT_MS))


def sizes() -> tuple[int, int]:
    data = WIDGET_JS.read_bytes()
    return len(data), len(gzip.compress(data, compresslevel=9))


class HostPage:
    """The site's page, from a thread on another loopback port (a page on a public address may not reach the
    loopback server: Chromium's Private Network Access)."""

    def __init__(self):
        page = {"body": b""}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page["body"])))
                self.end_headers()
                self.wfile.write(page["body"])

            def log_message(self, *args):
                pass

        self.page = page
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def serve(self, sitekey: str) -> None:
        self.page["body"] = HOST_PAGE.format(sitekey=sitekey).encode()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def prepare(data_dir: Path, play: int, unverified: int, origin: str) -> tuple[str, str]:
    """Stock the library, register the bench site for origin; returns (secret key, sitekey)."""
    from insideout.commands.bench_api import stock
    from insideout.db import Database
    from insideout.settings import Settings, ensure_secret_key
    from insideout.sites import Sites

    stock(data_dir, play, unverified)
    settings = ensure_secret_key(Settings(data_dir=data_dir))
    site, _secret = Sites(Database(settings.db_path), settings.secret_key).add("bench-widget", [origin])
    return settings.secret_key, site.sitekey


def start_server(data_dir: Path, secret_key: str) -> tuple[subprocess.Popen, str]:
    """The app as bench-api starts it, with the bench site's secret key and nothing that slows a round."""
    from insideout.commands.bench_api import start_server as serve

    return serve(data_dir, {"INSIDEOUT_HOST": "127.0.0.1", "INSIDEOUT_SECRET_KEY": secret_key,
                            "INSIDEOUT_SERVE_BUDGET": "0", "INSIDEOUT_PLAY_POOL_TARGET": "0",
                            "INSIDEOUT_POW_DIFFICULTY": "0", "INSIDEOUT_FAIL_COOLDOWN_S": "0"}, timeout_s=180)


def widget_once(browser, base: str, host: HostPage) -> dict[str, float]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{host.origin}/")
        page.evaluate(f"() => {{ {ROUND_JS} }}")  # as a statement: evaluate would call an expression's function
        out = page.evaluate("""async (src) => {
            const round = window.__ioRound('.insideout-captcha');
            const t0 = performance.now();
            const s = document.createElement('script');
            s.src = src;
            document.head.appendChild(s);
            const r = await round;
            return {start: r.start - t0, round: r.round - t0};
        }""", f"{base}/widget.js")
        return {"widget: script tag -> start button": out["start"], "widget: script tag -> round": out["round"]}
    finally:
        context.close()


def gradio_once(browser, base: str) -> dict[str, float]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.add_init_script(ROUND_JS)
        page.goto(f"{base}/", wait_until="commit")
        out = {}
        page.wait_for_selector("#login", state="visible", timeout=TIMEOUT_MS)
        out["gradio: navigation -> login form"] = page.evaluate("performance.now()")
        try:
            page.wait_for_selector("#login-captcha .insideout-captcha, .insideout-captcha", state="attached",
                                   timeout=TIMEOUT_MS)
            r = page.evaluate("window.__ioRound('.insideout-captcha')")
        except Exception as e:  # the login page no longer embeds the widget: report what was measured
            print(f"  (gradio: no widget round on the login page: {str(e).splitlines()[0]})")
            return out
        out["gradio: navigation -> start button"] = r["start"]
        out["gradio: navigation -> round"] = r["round"]
        return out
    finally:
        context.close()


def table(samples: dict[str, list[float]]) -> list[str]:
    rows = [f"{'what':<38} {'n':>3} {'median ms':>10} {'p90 ms':>8}"]
    for name, values in samples.items():
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        rows.append(f"{name:<38} {len(values):>3} {statistics.median(values):>10.0f} {p90:>8.0f}")
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=10, help="repetitions of each measurement (default 10)")
    parser.add_argument("--browser", default="/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None,
                        help="Chromium's executable (default: /usr/bin/chromium if present, else Playwright's own)")
    parser.add_argument("--play", type=int, default=24, help="play clips to stock")
    parser.add_argument("--unverified", type=int, default=8)
    parser.add_argument("--sizes-only", action="store_true", help="print widget.js's size and stop")


def run(args: argparse.Namespace, ctx: Context) -> int:
    raw, packed = sizes()
    print(f"widget.js: {raw} bytes, {packed} bytes gzipped (level 9)")
    if args.sizes_only:
        return 0
    if args.repeat < 1:
        raise CommandError("--repeat must be at least 1")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("insideout bench-widget: the timings need Playwright (pip install playwright) and a Chromium "
              "(Debian's chromium, or `playwright install chromium`): only the size was measured", file=sys.stderr)
        return SOME_FAILED
    data_dir = Path(tempfile.mkdtemp(prefix="insideout-bench-widget-"))
    proc, host = None, HostPage()
    try:
        print(f"stocking {args.play} play and {args.unverified} unverified 2 s clips in {data_dir} ...")
        secret_key, sitekey = prepare(data_dir, args.play, args.unverified, host.origin)
        host.serve(sitekey)
        proc, base = start_server(data_dir, secret_key)
        print(f"server at {base}; {args.repeat} repetitions, each in a fresh browser context (cold cache)")
        samples: dict[str, list[float]] = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.browser, args=CHROMIUM_ARGS)
            try:
                for fn in (lambda: widget_once(browser, base, host), lambda: gradio_once(browser, base)):
                    fn()  # warm-up: the server's first requests, the browser's first context
                    for _ in range(args.repeat):
                        for name, ms in fn().items():
                            samples.setdefault(name, []).append(ms)
            finally:
                browser.close()
        print()
        print("\n".join(table(samples)))
        print("\nround = the first radio enabled and every clip's audio able to play (the start button pressed at "
              "once).\nwidget times run from the script tag's insertion on a page of a registered site; Gradio "
              "times from navigation to the app's home page, whose login form embeds the same widget.")
        return 0
    finally:
        host.close()
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
