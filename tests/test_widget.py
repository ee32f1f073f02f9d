"""The embeddable widget in a real browser, on a third-party site (examples/site) on a second loopback origin.

One app server and one example server for the whole module: the example registers itself through the command
line (`python -m insideout sites add`), as its README says, on the app's data dir. Visitors pass the audio
check (the right answer read from the test's own database), pass by proof of work, use only the keyboard,
come from an origin the site did not register, read Korean and a dark theme; axe-core checks each state, and
the last test looks for anything that could give an answer away in what reached the page. Screenshots go to
artifacts/widget/.
"""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from insideout.emotions import EMOTION_IDS
from insideout.services import build_services
from insideout.sites import TEST_SITEKEY_FAILS, TEST_SITEKEY_PASSES
from tests.axe import blocking, run_axe
from tests.chromium import WAIT_MS, launched
from tests.conftest import SECRET, LiveServer, make_settings, stock
from tests.helpers import answers, start_clip_ids_at

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "widget"
EXAMPLE = REPO / "examples" / "site" / "server.py"
FIRST_CLIP_ID = 73_914_265  # clip ids start here: an id in a page is a long, unmistakable number
ALT_DIFFICULTY = 10  # the proof-of-work route at a test's difficulty (the default takes seconds)
UNSOLVED_BELOW_2_25 = "423a23769bb04606ec395c9905a4ffa2"  # sha256(salt + hex nonce): under 26 zero bits
WIDGET = ".insideout-captcha"

# The focused element, through open shadow roots.
FOCUSED = """() => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  const fs = a && a.closest && a.closest('fieldset');
  return {tag: a ? a.tagName.toLowerCase() : '', type: (a && a.type) || '', value: (a && a.value) || '',
          checked: !!(a && a.checked), name: a ? (a.getAttribute('aria-label') || a.textContent.trim()) : '',
          group: fs ? fs.querySelector('legend').textContent : ''};
}"""
# Everything of the widget a page holds: its shadow tree and its light-DOM children (the hidden input).
WIDGET_DOM = """(sel) => { const h = document.querySelector(sel);
  return {shadow: h.shadowRoot.innerHTML, light: h.innerHTML}; }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wav_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    chunks, pos = [], 12
    while pos < len(data):
        chunks.append(data[pos:pos + 4])
        pos += 8 + struct.unpack("<I", data[pos + 4:pos + 8])[0]
        pos += pos & 1
    return chunks


# -- the servers and the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("widget")
    services = build_services(make_settings(folder / "data", alt_pow_difficulty=ALT_DIFFICULTY))
    start_clip_ids_at(services, FIRST_CLIP_ID)
    stock(services, play=24, unverified=6)
    with LiveServer(services) as server:
        server.data_dir = folder / "data"
        yield server


@pytest.fixture(scope="module")
def site(app):
    """examples/site/server.py on its own port: without --sitekey it registers itself with the CLI."""
    port = free_port()
    env = {**os.environ, "INSIDEOUT_DATA_DIR": str(app.data_dir), "INSIDEOUT_SECRET_KEY": SECRET,
           "INSIDEOUT_STARTER_LIBRARY": "0", "PYTHONUNBUFFERED": "1"}
    env.pop("INSIDEOUT_SITEKEY", None)
    env.pop("INSIDEOUT_SECRET", None)
    log = open(app.data_dir.parent / "example-site.log", "w+")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--insideout", app.url, "--port", str(port)],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    try:
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    pytest.fail(f"the example site did not start:\n{log.read()}")
                time.sleep(0.2)
        # Listening comes before registering: wait for the line that says it serves.
        while "Example Shop on" not in (app.data_dir.parent / "example-site.log").read_text():
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                pytest.fail(f"the example site did not register:\n{log.read()}")
            time.sleep(0.2)
        registered = app.services.sites.get("example-site")
        assert registered is not None and registered.origins == (url,)
        yield type("Site", (), {"url": url, "port": port, "sitekey": registered.sitekey, "proc": proc,
                                "log": app.data_dir.parent / "example-site.log"})
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser():
    with launched(ARTIFACTS) as chromium:
        yield chromium


class Visit:
    """One visitor in their own browser context, recording every reply of the InsideOut server."""

    def __init__(self, browser: Browser, app: LiveServer, url: str, width: int = 1000, bypass_csp: bool = False):
        self.app = app
        self.context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=bypass_csp)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.replies = []
        self.page.on("response", lambda r: self.replies.append(r) if r.url.startswith(app.url) else None)
        self.page.goto(url)
        expect(self.widget("button.pri")).to_be_visible()

    def widget(self, selector: str):
        return self.page.locator(f"{WIDGET} {selector}")

    def challenge(self) -> dict:
        """The last challenge the page was given (the reply to its POST /challenges)."""
        created = [r for r in self.replies if re.search(r"/api/v1/challenges(\?|$)", r.url) and r.status == 201]
        assert created, "no challenge reached the page"
        return created[-1].json()

    def right_answers(self) -> list[str]:
        """The right emotion for each clip, in the widget's order (the control's label from the database)."""
        challenge = self.challenge()
        given = answers(self.app.services, challenge["challenge_id"], right=True)
        return [given[clip["slot"]] for clip in challenge["clips"]]

    def start(self) -> None:
        self.widget("button.pri").click()
        expect(self.widget("fieldset")).to_have_count(2)

    def pick(self, emotions: list[str]) -> None:
        for i, emotion in enumerate(emotions):
            self.widget(f"fieldset[data-i='{i}'] input[value='{emotion}']").check()

    def bodies_read(self) -> list[tuple[str, str, bytes]]:
        """(url, content type, body) of every whole reply the page has had from the InsideOut server."""
        out = []
        for reply in self.replies:
            if reply.request.method == "OPTIONS" or reply.status in (204, 206, 304):
                continue
            out.append((reply.url, reply.headers.get("content-type", ""), reply.body()))
        return out

    def focused(self) -> dict:
        return self.page.evaluate(FOCUSED)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    def close(self) -> None:
        self.context.close()


def challenges_in_db(app) -> int:
    with app.services.db.read() as db:
        return db.execute("SELECT count(*) FROM challenges").fetchone()[0]


def render_with(visit: Visit, **options) -> None:
    """The explicit API: render the page's widget again with other options (test keys, language, theme)."""
    visit.page.evaluate("options => insideout.render('.insideout-captcha', options)", options)
    expect(visit.widget("button.pri")).to_be_visible()


# -- one whole visit, recorded: the pass, the form, siteverify -----------------------------------------------


@pytest.fixture(scope="module")
def passed(app, site, browser):
    v = Visit(browser, app, site.url)
    v.shot("desktop-start")
    v.page.fill("#username", "alice")
    v.page.fill("#password", "any password")
    v.start()
    v.rounds = [v.page.evaluate(WIDGET_DOM, WIDGET)]
    v.page.wait_for_function(
        "() => [...document.querySelector('.insideout-captcha').shadowRoot.querySelectorAll('button[data-ready]')]"
        ".length === 2")
    v.shot("desktop-round")
    v.given = v.right_answers()
    v.pick(v.given)
    v.widget("button[type=submit]").click()
    expect(v.widget(".msg")).to_contain_text("Verified")
    expect(v.widget("p.mut")).to_contain_text(re.compile(r"Valid for [12]:\d\d"))
    v.shot("verified")
    v.verified = v.page.evaluate(WIDGET_DOM, WIDGET)
    v.token = v.page.input_value("form input[name='insideout-response']")
    v.api_token = v.page.evaluate("insideout.getResponse()")
    v.first = v.challenge()
    v.bodies = v.bodies_read()  # before the form navigates away (the bodies go with the page)
    v.page.click("#sign-in")
    expect(v.page.locator("#result")).to_have_text("Signed in")
    v.verdict = {k: json.loads(v.page.inner_text(f"#v-{k}")) for k in ("success", "method", "hostname", "sitekey")}
    yield v
    v.close()


def test_a_visitor_passes_the_widget_on_the_example_site_and_its_siteverify_succeeds(passed, site):
    assert passed.token and passed.token == passed.api_token
    assert passed.verdict == {"success": True, "method": "audio", "hostname": "127.0.0.1", "sitekey": site.sitekey}
    assert "signed in" in site.log.read_text()


def test_the_page_from_an_unregistered_origin_gets_no_challenge_and_nothing_is_created(app, site, browser):
    before = challenges_in_db(app)
    v = Visit(browser, app, f"http://localhost:{site.port}/")  # the same server, another origin
    try:
        v.widget("button.pri").click()
        expect(v.widget(".msg")).to_contain_text("not allowed to use it")
        expect(v.widget("fieldset")).to_have_count(0)
        assert not [r for r in v.replies if "/challenges" in r.url and r.ok]
        assert v.page.input_value("form input[name='insideout-response']") == ""
    finally:
        v.close()
    assert challenges_in_db(app) == before


def test_a_keyboard_only_visitor_passes_a_whole_challenge(app, site, browser):
    v = Visit(browser, app, site.url)
    keys = v.page.keyboard
    try:
        keys.press("Tab")
        keys.type("kim")
        keys.press("Tab")
        keys.type("any password")
        keys.press("Tab")
        assert "start audio check" in v.focused()["name"]
        keys.press("Enter")
        v.page.wait_for_function(f"() => ({FOCUSED})().name.startsWith('Round 1 of')")  # focus moved to the round
        given = v.right_answers()
        for i, emotion in enumerate(given):
            keys.press("Tab")
            assert v.focused()["name"] == f"Play clip {i + 1} of 2"
            keys.press("Space")
            keys.press("Tab")
            focused = v.focused()
            assert focused["type"] == "radio" and focused["group"] == f"Which emotion? Clip {i + 1} of 2"
            index = EMOTION_IDS.index(emotion)
            if i == 0:
                keys.press(str(index + 1))  # a number key picks in this clip's group
            else:
                keys.press("Space")  # the first choice, then the arrow keys within the group
                for _ in range(index):
                    keys.press("ArrowDown")
            focused = v.focused()
            assert focused["checked"] and focused["value"] == emotion
        keys.press("Enter")
        v.page.wait_for_function(f"() => ({FOCUSED})().name.includes('Verified')")  # focus moved to the feedback
        keys.press("Tab")
        assert v.focused()["name"] == "Sign in"
        keys.press("Enter")
        expect(v.page.locator("#result")).to_have_text("Signed in")
        assert json.loads(v.page.inner_text("#v-method")) == "audio"
    finally:
        v.close()


def test_a_wrong_round_is_announced_and_the_next_round_comes_in_place(app, site, browser):
    v = Visit(browser, app, site.url)
    try:
        v.start()
        wrong = answers(app.services, v.challenge()["challenge_id"], right=False)
        v.pick([wrong[c["slot"]] for c in v.challenge()["clips"]])
        v.widget("button[type=submit]").click()
        expect(v.widget(".msg")).to_have_text("Not quite. Round 2 of 3, with new clips.")
        v.page.wait_for_function(f"() => ({FOCUSED})().name.startsWith('Not quite')")  # focus on the feedback
        expect(v.widget("p.ttl")).to_have_text("Round 2 of 3")
        expect(v.widget("input:checked")).to_have_count(0)
        retry = [r for r in v.replies if r.url.endswith("/answer")][-1].json()
        assert retry["status"] == "retry" and len(retry["clips"]) == 2
        right = answers(app.services, v.challenge()["challenge_id"], right=True)
        v.pick([right[c["slot"]] for c in retry["clips"]])
        v.widget("button[type=submit]").click()
        expect(v.widget(".msg")).to_contain_text("Verified")
    finally:
        v.close()


def test_expiry_is_counted_down_and_offers_a_new_challenge_or_check(app, site, browser):
    """The page's clock runs ahead: the round's five minutes, then the token's two."""
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    widget = page.locator(WIDGET)
    try:
        page.clock.install()
        page.goto(site.url)
        page.evaluate("window.__expired = 0")
        page.evaluate("key => insideout.render('.insideout-captcha', {sitekey: key, callback: t => window.__token = t, "
                      "'expired-callback': () => window.__expired++})", TEST_SITEKEY_PASSES)
        widget.locator("button.pri").click()
        expect(widget.locator("p.mut").first).to_have_text(re.compile(r"Time left: [45]:\d\d"))
        page.clock.run_for(241_000)
        expect(widget.locator(".msg")).to_have_text("One minute left.")
        page.clock.run_for(61_000)
        expect(widget.locator(".msg")).to_have_text("This challenge expired.")
        expect(widget.locator("fieldset")).to_have_count(0)
        widget.locator("button").filter(has_text="New challenge").click()
        widget.locator("fieldset[data-i='0'] input[value='sad']").check()
        widget.locator("fieldset[data-i='1'] input[value='calm']").check()
        widget.locator("button[type=submit]").click()
        expect(widget.locator(".msg")).to_have_text("✓ Verified")
        expect(widget.locator("p.mut")).to_have_text(re.compile(r"Valid for [12]:\d\d"))
        token = page.input_value("input[name='insideout-response']")
        assert token and page.evaluate("window.__token") == token == page.evaluate("insideout.getResponse()")
        page.clock.run_for(121_000)
        expect(widget.locator(".msg")).to_have_text("Your verification expired. Please check again.")
        assert page.input_value("input[name='insideout-response']") == ""
        assert page.evaluate("insideout.getResponse()") == "" and page.evaluate("window.__expired") == 1
        expect(widget.locator("button").filter(has_text="Check again")).to_be_visible()
    finally:
        context.close()


def test_a_cooldown_is_shown_with_its_countdown_and_calls_the_error_callback(app, site, browser):
    v = Visit(browser, app, site.url)
    v.page.route(lambda url: "/api/v1/challenges?" in url, lambda route: route.fulfill(
        status=429, json={"error": "cooldown", "message": "too many wrong answers lately"},
        headers={"Access-Control-Allow-Origin": site.url, "Retry-After": "42",
                 "Access-Control-Expose-Headers": "Retry-After"}))
    try:
        v.page.evaluate("window.__errors = []")
        v.page.evaluate("key => insideout.render('.insideout-captcha', {sitekey: key, "
                        "'error-callback': code => window.__errors.push(code)})", site.sitekey)
        v.widget("button.pri").click()
        expect(v.widget(".msg")).to_have_text("Too many wrong answers lately. Please wait before trying again.")
        expect(v.widget("p.mut")).to_have_text(re.compile(r"Try again in 0:4[12]"))
        expect(v.widget("button").filter(has_text="Try again")).to_be_disabled()
        assert v.page.evaluate("window.__errors") == ["cooldown"]
    finally:
        v.close()


def test_a_server_that_asks_for_proof_of_work_gets_it_before_the_challenge(app, site, browser):
    v = Visit(browser, app, site.url)
    sent = []

    def first_refused(route):
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            route.fulfill(status=403, json={"error": "pow_required", "message": "solve a puzzle"},
                          headers={"Access-Control-Allow-Origin": site.url})
        else:
            route.continue_()

    v.page.route(lambda url: "/api/v1/challenges?" in url, first_refused)
    try:
        v.start()
        assert "pow" not in sent[0] and set(sent[1]["pow"]) == {
            "algorithm", "salt", "difficulty", "expires_at", "signature", "nonce"}
        assert [r.url for r in v.replies if "/api/v1/pow" in r.url] == [f"{app.url}/api/v1/pow?sitekey={site.sitekey}"]
    finally:
        v.close()


def test_the_proof_of_work_alternative_yields_a_token_whose_siteverify_says_pow(app, site, browser):
    v = Visit(browser, app, site.url)
    try:
        v.page.fill("#username", "lee")
        v.page.fill("#password", "any password")
        v.widget("button.lnk").click()
        expect(v.widget(".msg")).to_contain_text("Verified")
        assert v.widget("[role=progressbar]").count() == 0  # done: the bar made way for the result
        v.page.click("#sign-in")
        expect(v.page.locator("#result")).to_have_text("Signed in")
        assert json.loads(v.page.inner_text("#v-method")) == "pow"
    finally:
        v.close()


def test_the_alternative_shows_its_progress_and_can_be_cancelled(app, site, browser):
    v = Visit(browser, app, site.url)
    # A fixed salt with no nonce below 2**25 that solves it (searched offline): the solver cannot finish
    # by luck before the click that cancels it, as a random salt now and then did (CI, stop 29).
    hard = {"algorithm": "sha256", "salt": UNSOLVED_BELOW_2_25, "difficulty": 26,
            "expires_at": int(time.time()) + 600, "signature": "unused"}
    v.page.route(lambda url: "/api/v1/pow?for=alternative" in url,
                 lambda route: route.fulfill(status=200, json=hard,
                                             headers={"Access-Control-Allow-Origin": site.url}))
    try:
        v.widget("button.lnk").click()
        bar = v.widget("[role=progressbar]")
        expect(bar).to_have_attribute("aria-label", "Computation progress")
        v.page.wait_for_function("() => +document.querySelector('.insideout-captcha').shadowRoot"
                                 ".querySelector('[role=progressbar]').getAttribute('aria-valuenow') >= 1")
        expect(v.widget(".msg")).to_contain_text(re.compile(r"Working… \d+%"))
        v.widget("button").filter(has_text="Cancel").click()
        expect(v.widget(".msg")).to_have_text("Cancelled.")
        expect(v.widget("button.pri")).to_be_visible()
        assert not [r for r in v.replies if "/alternative" in r.url]
    finally:
        v.close()


def test_the_always_failing_test_key_says_not_passed_and_calls_the_error_callback(app, site, browser):
    v = Visit(browser, app, site.url)
    try:
        v.page.evaluate("window.__errors = []")
        v.page.evaluate("key => insideout.render('.insideout-captcha', {sitekey: key, "
                        "'error-callback': code => window.__errors.push(code)})", TEST_SITEKEY_FAILS)
        v.start()
        v.pick(["happy", "sad"])
        v.widget("button[type=submit]").click()
        expect(v.widget(".msg")).to_contain_text("Not passed")
        expect(v.widget("button").filter(has_text="New challenge")).to_be_visible()
        assert v.page.evaluate("window.__errors") == ["failed"]
        assert v.page.evaluate("insideout.getResponse()") == ""
    finally:
        v.close()


def test_axe_finds_no_serious_violation_in_the_start_round_and_verified_states(app, site, browser):
    v = Visit(browser, app, site.url, bypass_csp=True)  # axe is injected as an inline script
    found = {}
    try:
        render_with(v, sitekey=TEST_SITEKEY_PASSES, theme="light")
        found["start"] = run_axe(v.page, WIDGET)
        v.start()
        found["round"] = run_axe(v.page, WIDGET)
        v.widget("button[type=submit]").click()  # nothing chosen: the feedback beside each clip
        expect(v.widget(".note").first).to_have_text("Choose an emotion for this clip.")
        found["missing"] = run_axe(v.page, WIDGET)
        v.pick(["calm", "angry"])
        v.widget("button[type=submit]").click()
        expect(v.widget(".msg")).to_contain_text("Verified")
        found["verified"] = run_axe(v.page, WIDGET)
    finally:
        v.close()
    for state, violations in found.items():
        print(state, [(x["id"], x["impact"]) for x in violations])
        assert blocking(violations) == [], (state, violations)


def test_the_widget_speaks_korean_from_data_lang_and_from_the_page_language(app, site, browser):
    v = Visit(browser, app, f"{site.url}/?lang=ko", bypass_csp=True)
    try:
        assert v.widget(".io").get_attribute("lang") == "ko"
        expect(v.widget("button.pri")).to_have_text("로봇이 아닙니다 — 오디오 확인 시작")
        v.start()
        expect(v.widget("fieldset[data-i='0'] legend")).to_have_text("어떤 감정인가요? 클립 1/2")
        choices = v.widget("fieldset[data-i='0'] label").all_inner_texts()
        assert choices == ["중립", "차분함", "행복", "슬픔", "화남", "두려움", "혐오", "놀람"]
        assert v.widget("fieldset[data-i='1'] button").get_attribute("aria-label") == "클립 2/2 재생"
        v.shot("korean")
        assert blocking(run_axe(v.page, WIDGET)) == []
        # No data-lang: the page's <html lang> decides.
        v.page.evaluate("document.querySelector('.insideout-captcha').removeAttribute('data-lang'); "
                        "document.documentElement.lang = 'ko-KR'")
        render_with(v, sitekey=TEST_SITEKEY_PASSES)
        assert v.widget(".io").get_attribute("lang") == "ko"
        v.page.evaluate("document.documentElement.lang = 'en'")
        render_with(v, sitekey=TEST_SITEKEY_PASSES)
        assert v.widget(".io").get_attribute("lang") == "en"
    finally:
        v.close()


def test_the_widget_has_a_dark_theme_with_enough_contrast(app, site, browser):
    v = Visit(browser, app, f"{site.url}/?theme=dark", bypass_csp=True)
    try:
        background = v.widget(".io").evaluate("e => getComputedStyle(e).backgroundColor")
        assert background == "rgb(31, 31, 31)"
        v.start()
        v.shot("dark")
        assert blocking(run_axe(v.page, WIDGET)) == []
        # auto follows the visitor's preference
        v.page.emulate_media(color_scheme="dark")
        render_with(v, sitekey=TEST_SITEKEY_PASSES, theme="auto")
        assert v.widget(".io").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(31, 31, 31)"
        v.page.emulate_media(color_scheme="light")
        assert v.widget(".io").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
    finally:
        v.close()


def test_the_round_fits_a_320_pixel_screen_without_sideways_scrolling(app, site, browser):
    v = Visit(browser, app, site.url, width=320)
    try:
        render_with(v, sitekey=TEST_SITEKEY_PASSES)
        v.start()
        v.shot("320px")
        assert v.page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        box = v.page.locator(WIDGET).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 320
    finally:
        v.close()


def test_no_label_clip_id_or_storage_name_reaches_the_page(app, passed):
    services = app.services
    challenge = passed.first
    rounds = services.db.challenge_slots(challenge["challenge_id"])
    clips = [services.db.get_clip(s.clip_id) for s in rounds]
    secrets_ = [str(c["id"]) for c in clips] + [c["audio_name"] for c in clips] + [c["sha256"] for c in clips]
    # The page's DOM, in the round and after the pass: no clip id or storage name, and no challenge id or slot
    # (in memory only); every clip's group offers all eight emotions, in the same order.
    slots = [c["slot"] for c in challenge["clips"]]
    for dom in [*passed.rounds, passed.verified]:
        for text in (dom["shadow"], dom["light"]):
            for needle in [*secrets_, challenge["challenge_id"], *slots]:
                assert needle not in text
        groups = re.findall(r"<fieldset.*?</fieldset>", dom["shadow"])
        for group in groups:
            assert re.findall(r'value="(\w+)"', group) == list(EMOTION_IDS)
    # Every reply of the InsideOut server the page read: no clip id, storage name or label tied to a slot.
    kinds = set()
    for url, kind, body in passed.bodies:
        kinds.add(kind.split(";")[0])
        if kind.startswith("audio/"):
            assert wav_chunks(body) == [b"fmt ", b"data"]
        text = body.decode("latin-1")
        for needle in secrets_:
            assert needle not in text, (url, needle)
        if kind.startswith("application/json"):
            data = json.loads(body)
            data.pop("emotions", None)  # the menu of choices, the same for every clip
            flat = json.dumps(data).lower()
            for word in [*EMOTION_IDS, "label", "clip_id", "audio_name"]:
                assert f'"{word}' not in flat, (url, word)
    assert {"application/json", "audio/wav", "text/javascript"} <= kinds
