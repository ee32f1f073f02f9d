"""The app in a real browser: Debian's Chromium driven by Playwright (.ci/install_browser.sh installs it,
with axe-core).

Visitors log in through the captcha widget embedded in the login form (the same widget.js any website
embeds), reload the page and stay signed in, label clips with the keyboard alone, fail the captcha into the
engine's bot verdict while claiming the admin's name, switch to Korean; the admin then signs in all the same,
reads the dashboard and manages sites. axe-core checks the home page with the widget, an open round, and the
labeling view. Each visitor is a browser context with its own client address (X-Forwarded-For from a trusted
loopback proxy) that records the page and every response it receives, so the last test can look for answers
in what reached the browser. Screenshots go to artifacts/.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from insideout.accounts import DEMO_PASSWORD
from insideout.db import Vote
from insideout.emotions import EMOTIONS
from insideout.services import build_services
from tests import tts_fixtures
from tests.axe import blocking, run_axe
from tests.chromium import WAIT_MS, launched
from tests.conftest import LiveServer, make_settings, stock
from tests.helpers import answers, start_clip_ids_at
from tests.test_api import wav_chunks

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
ADMIN_PASSWORD = "admin-password-for-the-browser"
# Clip ids start here, so that an id in a page is a long, unmistakable number.
FIRST_CLIP_ID = 48_151_623
WIDGET = ".insideout-captcha"
BOT_CLAIMS = "admin"  # the name the failing visitor types: a verdict must not lock it

# Run in the page before its own scripts: keep every <audio> it makes (the waveform player makes
# its own), and a copy of the text of every app response read through fetch, streams included
# (Gradio's event streams outlive the page's use of them, so the network log never has their body).
TAP = """
window.__media = [];
const create = Document.prototype.createElement;
Document.prototype.createElement = function (tag, options) {
  const el = create.call(this, tag, options);
  if (String(tag).toLowerCase() === 'audio') window.__media.push(el);
  return el;
};
const RealAudio = window.Audio;  // the widget's players: new Audio(), in memory only
window.Audio = function (src) {
  const el = src === undefined ? new RealAudio() : new RealAudio(src);
  window.__media.push(el);
  return el;
};
window.Audio.prototype = RealAudio.prototype;
window.__traffic = [];
const realFetch = window.fetch;
window.fetch = async function (...args) {
  const response = await realFetch.apply(this, args);
  const kind = response.headers.get('content-type') || '';
  if (response.url.includes('/gradio_api/') && !kind.startsWith('audio/') && response.body) {
    const entry = {url: response.url, kind, text: ''};
    window.__traffic.push(entry);
    const reader = response.clone().body.getReader();
    const decoder = new TextDecoder();
    (async () => {
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        entry.text += decoder.decode(value, {stream: true});
      }
    })().catch(() => {});
  }
  return response;
};
"""

# The page's visible text, without the emotion menus, and its attributes other than style/class.
READ_PAGE = """
() => {
  const text = [], attrs = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (el && !el.closest('.emotion-choices, script, style, svg')) text.push(walker.currentNode.nodeValue);
  }
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.emotion-choices')) continue;
    for (const a of el.attributes) if (a.name !== 'style' && a.name !== 'class') attrs.push(a.value);
  }
  return {html: document.documentElement.outerHTML, text: text.join(' '), attrs: attrs.join(' ')};
}
"""

# Send one event of this page's own session straight to Gradio's queue, as a script in the page
# could, and read the outcome from the event stream.
CALL_EVENT = """
async ({fn_index, session_hash, data}) => {
  const join = await fetch('/gradio_api/queue/join', {method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({data, fn_index, session_hash, event_data: null, trigger_id: null})});
  if (!join.ok) return {joined: join.status};
  const stream = await fetch('/gradio_api/queue/data?session_hash=' + session_hash);
  const reader = stream.body.getReader();
  let text = '';
  while (!text.includes('process_completed')) {
    const {value, done} = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  await reader.cancel();
  const line = text.split('\\n').find(l => l.includes('process_completed'));
  return JSON.parse(line.slice('data: '.length));
}
"""


# -- the server and the browser ----------------------------------------------------------------


def seed(services) -> None:
    """Data for the dashboard: crowd votes on the unverified clips (mostly their intended emotion,
    one clip to a consensus), and challenges answered over the past hours."""
    for n, clip in enumerate(services.db.clips("unverified")):
        intended = clip["intended_emotion"]
        others = [e.id for e in EMOTIONS if e.id != intended]
        votes = [intended] * (10 if n == 0 else 3) + others[n % 7: n % 7 + 1]
        services.consensus.record([Vote(clip["id"], f"crowd{i}", e, True, "labeling")
                                   for i, e in enumerate(votes)])
    now = time.time()
    for hours_ago in range(1, 6):
        for k in range(4):
            when = now - hours_ago * 3600 + k
            view = services.captcha.create(f"203.0.113.{k}", now=when)
            for r in range(3):
                right = (k + hours_ago + r) % 3 == 0
                given = answers(services, view.challenge_id, right)
                result = services.captcha.answer(view.challenge_id, given, f"203.0.113.{k}", now=when + r)
                if result.status != "retry":
                    break


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    checkpoint = tts_fixtures.write_insideout(folder / "tiny-tacotron2.pt")  # for the generation panel
    # The bot verdict on, as in production; each visitor its own client behind a trusted loopback proxy. The
    # cooldown outlasts the module: tests check bob is still locked after the admin's slow fixture has run.
    services = build_services(make_settings(folder / "data", admin_password=ADMIN_PASSWORD,
                                            tts_checkpoint=str(checkpoint), fail_cooldown_s=3600,
                                            trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),)))
    start_clip_ids_at(services, FIRST_CLIP_ID)
    services.clip_ids = stock(services, play=24, unverified=6)
    seed(services)
    # The dashboard's full size for the note's timing: DASHBOARD_TEST_VOTES=10000 adds a research-sized crowd.
    if int(os.environ.get("DASHBOARD_TEST_VOTES", "0")):
        from insideout.commands.bench_dashboard import seed as seed_research

        seed_research(services, int(os.environ["DASHBOARD_TEST_VOTES"]), 2000, 400, 300, 1)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.2")  # closed pages let go of the server at once
        with LiveServer(services) as server:
            yield server


@pytest.fixture(scope="module")
def browser():
    with launched(ARTIFACTS) as chromium:
        yield chromium


class Visitor:
    """One person in their own browser context and client address, recording the page and each response it
    gets."""

    def __init__(self, browser: Browser, url: str, name: str, client: str):
        self.name = name
        self.client = client
        self.context = browser.new_context(viewport={"width": 1200, "height": 900},
                                           extra_http_headers={"X-Forwarded-For": client})
        self.context.add_init_script(TAP)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.urls = []  # every request the page made
        self.finished = []  # requests whose response arrived whole
        self.joins = []  # the bodies of the events this page sent
        self.pages = []  # READ_PAGE snapshots
        self.axe = {}  # axe-core's violations, by the state of the page they were found in
        self.kept = []  # (url, type, body) of each finished request, None for those not kept
        self.streams = []  # (url, type, text) of the event streams the page read
        self.page.on("request", self._on_request)
        self.page.on("requestfinished", lambda r: self.finished.append(r))
        self.page.goto(url)
        self.wait_for_widget()

    def wait_for_widget(self) -> None:
        expect(self.page.locator("#login")).to_be_visible()
        expect(self.page.locator(f"{WIDGET} button").first).to_be_visible()  # widget.js rendered it

    def snapshot(self) -> None:
        self.pages.append(self.page.evaluate(READ_PAGE))

    def shot(self, name: str) -> None:
        self.snapshot()
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    def check_axe(self, state: str) -> None:
        self.axe[state] = run_axe(self.page)

    def fill(self, username: str, password: str) -> None:
        self.page.fill("#username input", username)
        self.page.fill("#password input", password)

    def start_widget(self) -> None:
        self.page.locator(f"{WIDGET} button").first.click()  # the widget's start button
        expect(self.page.locator(f"{WIDGET} fieldset[data-i='1']")).to_be_attached()

    def answer_round(self, services, right: bool) -> None:
        """Pick for every clip of the widget's round (the right answer read from the server's database), submit."""
        cid = open_challenge(services, self.client)
        given = answers(services, cid, right)
        for i, slot in enumerate(s.slot for s in services.db.get_challenge(cid).slots):
            self.page.locator(f"{WIDGET} fieldset[data-i='{i}'] input[value='{given[slot]}']").check()
        self.page.locator(f"{WIDGET} button[type=submit]").click()

    def pass_widget(self, services) -> None:
        self.start_widget()
        self.answer_round(services, right=True)
        self.page.wait_for_function("window.insideoutLogin && window.insideoutLogin.response() !== ''")

    def log_in(self, services, username: str, password: str) -> None:
        """Fill the form, pass the captcha in it, and log in."""
        self.fill(username, password)
        self.pass_widget(services)
        self.page.click("#login")

    def widget_text(self) -> str:
        return self.page.locator(f"{WIDGET} .io").inner_text()  # inside the widget's shadow root

    def _on_request(self, request) -> None:
        self.urls.append(request.url)
        if "/queue/join" in request.url:
            self.joins.append(request.post_data_json)

    def keep_bodies(self) -> None:
        """Read what arrived so far (a navigation drops the bodies of the page it leaves, and its fetch tap)."""
        for request in self.finished[len(self.kept):]:
            url = request.url
            response = request.response()
            if ("/assets/" in url or "/static/" in url or url.startswith(("blob:", "data:")) or response is None
                    or "event-stream" in response.headers.get("content-type", "")):
                self.kept.append(None)
                continue
            try:
                body = response.body()
            except Exception:  # noqa: BLE001 - a response without a body (a redirect, a cancelled fetch)
                body = b""
            self.kept.append((url, response.headers.get("content-type", ""), body))
        for entry in self.page.evaluate("window.__traffic || []"):
            if "event-stream" in entry["kind"]:
                self.streams.append((entry["url"], entry["kind"], entry["text"].encode()))
        self.page.evaluate("window.__traffic = []")

    def reload(self) -> None:
        self.keep_bodies()
        self.page.reload()

    def bodies(self) -> list[tuple[str, str, bytes]]:
        """(url, content type, body) of what the app sent, its static assets aside: whole responses
        from the network log, event streams from the page's fetch tap."""
        self.keep_bodies()
        return [b for b in self.kept if b is not None] + self.streams

    def close(self) -> None:
        self.context.close()


def open_challenge(services, client: str) -> str:
    with services.db.read() as db:
        return db.execute("SELECT id FROM challenges WHERE state = 'open' AND client = ? "
                          "ORDER BY created_at DESC LIMIT 1", [client]).fetchone()[0]


# -- the journeys (each once per module; the tests below read what they recorded) --------------


@pytest.fixture(scope="module")
def alice(live, browser):
    """Logs in through the widget (hearing its clips), labels a clip, reloads the page and stays signed in,
    then labels a clip with the keyboard alone."""
    v = Visitor(browser, live.url, "alice", "198.51.100.11")
    v.shot("01-home")
    v.check_axe("home")
    v.fill("alice", DEMO_PASSWORD)
    v.start_widget()
    v.page.wait_for_function(
        "window.__media.filter(a => a.currentSrc && a.readyState >= 1 && a.duration > 0).length >= 2")
    v.media = v.page.evaluate(
        "window.__media.filter(a => a.currentSrc).map(a => ({src: a.currentSrc, ready: a.readyState,"
        " duration: a.duration}))")
    v.page.locator(f"{WIDGET} fieldset[data-i='0'] button").click()  # play clip 1
    v.page.wait_for_function("window.__media.some(a => !a.paused && a.currentTime > 0)")
    v.shot("02-captcha-round-1")
    v.check_axe("round")
    v.answer_round(live.services, right=True)
    v.page.wait_for_function("window.insideoutLogin.response() !== ''")
    v.page.click("#login")
    expect(v.page.locator("#welcome")).to_contain_text("Signed in as alice")
    v.focus_after_login = v.page.evaluate("document.activeElement && document.activeElement.id")
    expect(v.page.locator("#label-audio audio").first).to_be_attached()
    v.shot("03-signed-in")
    v.page.locator("#label-choice input[value='sad']").check()
    v.page.click("#send-label")
    expect(v.page.locator("#label-message")).to_contain_text("your vote counts")
    v.shot("04-label-sent")
    v.check_axe("labeling")
    v.play_names = v.page.eval_on_selector_all("#label-audio button", "bs => bs.map(b => b.getAttribute('aria-label'))")
    v.group_name = v.page.locator("#label-choice").evaluate(
        "e => document.getElementById(e.getAttribute('aria-labelledby')).textContent.trim()")
    v.message_role = v.page.locator("#label-message").evaluate("e => [e.getAttribute('role'), e.ariaLive]")

    # A reload: the browser's kept session signs the person in again.
    v.reload()
    expect(v.page.locator("#welcome")).to_contain_text("Signed in as alice")
    v.login_shown_after_reload = v.page.locator("#login").is_visible()
    expect(v.page.locator("#label-audio audio").first).to_be_attached()
    v.page.wait_for_timeout(300)  # the clip's player settles

    # Keyboard only: a number key picks, Tab reaches the send button, Enter sends; focus goes to the next clip.
    page = v.page
    page.keyboard.press("3")
    v.picked = page.evaluate("[document.activeElement.value, document.activeElement.checked]")
    for _ in range(12):
        if page.evaluate("document.activeElement.id") == "send-label":
            break
        page.keyboard.press("Tab")
    v.tabbed_to = page.evaluate("document.activeElement.id")
    page.keyboard.press("Enter")
    expect(page.locator("#label-message")).to_contain_text("your vote counts")
    on_play = "(document.activeElement.getAttribute('aria-label') || '').startsWith('Play')"
    page.wait_for_function(on_play)
    page.wait_for_timeout(500)  # the new clip's player settles (the page keeps the focus on its play button)
    page.wait_for_function(on_play)
    v.focus_after_label = page.evaluate("document.activeElement.getAttribute('aria-label')")
    page.keyboard.press("Enter")  # plays the new clip (a short one: it may have ended when looked at)
    page.wait_for_function("window.__media.some(a => a.played.length > 0 && a.currentTime > 0)")
    yield v
    v.close()


@pytest.fixture(scope="module")
def bob(live, browser):
    """Types the admin's name with a guessed password, fails three rounds of the widget, gets the engine's bot
    verdict, and is refused a new challenge while it lasts; the login itself tells him to pass the captcha."""
    v = Visitor(browser, live.url, "bob", "198.51.100.22")
    v.fill(BOT_CLAIMS, "a-guess")
    v.start_widget()
    v.rounds_seen = []
    for n in (1, 2, 3):
        heading = v.page.locator(f"{WIDGET} p.ttl")
        expect(heading).to_have_text(f"Round {n} of 3")
        v.rounds_seen.append(heading.inner_text())
        if n == 3:
            v.shot("05-round-3-of-3")
        v.answer_round(live.services, right=False)
    expect(v.page.locator(WIDGET)).to_contain_text("Not passed")
    v.verdict = v.widget_text()
    v.shot("06-bot-verdict")
    v.page.locator(f"{WIDGET} button", has_text="New challenge").first.click()
    expect(v.page.locator(WIDGET)).to_contain_text("Too many wrong answers lately")
    v.retry = v.widget_text()
    v.round_shown_after_verdict = v.page.locator(f"{WIDGET} fieldset").count() > 0
    v.page.click("#login")
    expect(v.page.locator("#login-message")).to_contain_text("Pass the captcha first")
    v.login_message = v.page.inner_text("#login-message")
    v.shot("07-cooldown")
    yield v
    v.close()


@pytest.fixture(scope="module")
def carol(live, browser):
    """Switches the page to Korean and opens the widget's round, in Korean too."""
    v = Visitor(browser, live.url, "carol", "198.51.100.33")
    v.page.get_by_text("한국어").click()
    expect(v.page.locator("#login")).to_have_text("로그인")
    v.page.wait_for_function("document.documentElement.lang === 'ko'")
    expect(v.page.locator(f"{WIDGET} button").first).to_contain_text("오디오 확인 시작")
    v.fill("carol", DEMO_PASSWORD)
    v.start_widget()
    expect(v.page.locator(f"{WIDGET} p.ttl")).to_have_text("라운드 1/3")
    v.widget_choices = v.page.locator(f"{WIDGET} fieldset[data-i='0'] label").all_inner_texts()
    v.group_names = v.page.locator(f"{WIDGET} legend").all_inner_texts()
    v.shot("08-korean-captcha")
    yield v
    v.close()


PLOTS = ("#admin-confusion", "#admin-by-emotion", "#admin-by-round", "#admin-over-time")


FILLED = """([summary, agreement, plots]) => {
  const has = (id, words) => (document.querySelector(id)?.textContent || '').includes(words);
  const drawn = p => [...document.querySelectorAll(p + ' canvas, ' + p + ' svg.marks')]
    .some(e => e.getBoundingClientRect().width > 0);
  return has('#admin-summary', summary) && has('#admin-agreement', agreement) && plots.every(drawn);
}"""


def wait_for_dashboard(page: Page, summary: str, agreement: str) -> None:
    """Until the summary, the agreement and every chart of the dashboard are drawn (checked in the page at each
    frame, so that the time measured is the page's, not the polling's)."""
    page.wait_for_function(FILLED, arg=[summary, agreement, list(PLOTS)], polling="raf")


# Blocks Gradio marks as waiting for their event (drawn at a fifth of their opacity: axe would rightly call that
# low contrast, and a test would read the old values).
SETTLED = """() => ![...document.querySelectorAll('.pending, .generating')].some(e => e.offsetParent !== null)"""


def open_section(page: Page, name: str) -> None:
    """Opens one of the admin view's sections by its tab (and waits while its blocks are marked pending)."""
    page.get_by_role("tab", name=name, exact=True).click()
    page.wait_for_function(SETTLED)


@pytest.fixture(scope="module")
def admin(live, browser, bob):
    """Logs in as the admin (after bob's verdict, claimed on the admin's name) and opens the dashboard."""
    v = Visitor(browser, live.url, "admin", "198.51.100.44")
    v.log_in(live.services, "admin", ADMIN_PASSWORD)
    expect(v.page.locator("#welcome")).to_contain_text("Signed in as admin")
    # Timed from a settled page, as an admin's click comes: the charts' library, which the page loads once the
    # Admin tab shows (page.py), is there by then.
    v.page.wait_for_function("() => window.insideoutUi && window.insideoutUi.charts === 'ready'")
    started = time.perf_counter()
    v.page.get_by_role("tab", name="Admin").click()
    wait_for_dashboard(v.page, "At a glance", "Fleiss")
    v.dashboard_s = time.perf_counter() - started
    print(f"admin tab to a filled dashboard: {v.dashboard_s:.2f} s "
          f"({live.services.db.vote_totals(0)[0]} votes in the database)")
    expect(v.page.locator("#admin-tallies")).to_contain_text(str(live.services.clip_ids["unverified"][1]))
    v.page.click("#admin-export")
    expect(v.page.locator("a[href$='/insideout-votes.csv']")).to_be_visible()
    v.shot("09-admin-dashboard")
    v.check_axe("dashboard")
    # The other sections mount, and load their numbers, when opened.
    for section, where, words in (("Sites", "#admin-sites", "builtin"),
                                  ("Bot lab", "#admin-bots-status", "No evaluation started"),
                                  ("Generate and train", "#admin-train-status", "Learning pool")):
        open_section(v.page, section)
        expect(v.page.locator(where)).to_contain_text(words)  # what opening the section loads has come
        v.page.wait_for_function(SETTLED)
        v.check_axe({"Sites": "sites", "Bot lab": "bots"}.get(section, "models"))
    open_section(v.page, "Dashboard")
    wait_for_dashboard(v.page, "At a glance", "Fleiss")
    yield v
    v.close()


# -- what a person sees ------------------------------------------------------------------------


def test_the_clips_of_a_round_are_playable(alice):
    assert len(alice.media) >= 2
    for audio in alice.media:
        assert "/api/v1/challenges/" in audio["src"] and audio["ready"] >= 1 and 0.2 < audio["duration"] < 5


def test_the_audio_the_page_fetches_is_a_plain_wav_under_a_blind_name(live, alice):
    captcha = [b for b in alice.bodies() if "/api/v1/challenges/" in b[0] and "/audio/" in b[0]]
    assert len(captcha) >= 2  # the widget's two clips, from the API as on any site
    for _, kind, body in captcha:
        assert kind == "audio/wav" and wav_chunks(body) == [b"fmt ", b"data"]
    urls = [u for u in alice.urls if "/gradio_api/file=" in u]
    assert len(urls) >= 2  # the clips to label
    with live.client() as http:
        for url in urls:
            assert url.endswith("/audio.wav")
            r = http.get(url)
            assert r.headers["content-type"] == "audio/wav"
            assert wav_chunks(r.content) == [b"fmt ", b"data"]


def test_a_right_answer_reaches_the_signed_in_page(alice):
    assert "Signed in as alice (volunteer)" in alice.page.inner_text("#welcome")
    assert not alice.page.get_by_role("tab", name="Admin").is_visible()


def test_a_reload_keeps_the_visitor_signed_in(alice):
    assert not alice.login_shown_after_reload
    assert "Signed in as alice" in alice.page.inner_text("#welcome")


def test_labeling_works_with_the_keyboard_alone(alice):
    """Key 3 picked the third emotion and focused it, Tab reached the send button, Enter sent the label
    (counted below), focus went to the next clip's play button, and Enter played it."""
    assert alice.picked == ["happy", True]
    assert alice.tabbed_to == "send-label"
    assert alice.focus_after_label == "Play: Clip to label"


def test_the_labeling_view_names_its_choices_and_its_player_and_announces_its_feedback(alice):
    assert alice.group_name == "Which emotion does the clip to label express?"
    assert "Play: Clip to label" in alice.play_names
    assert alice.message_role == ["status", "polite"]
    assert alice.focus_after_login == "welcome"


def test_a_volunteer_label_is_counted(live, alice):
    with live.services.db.read() as db:
        counted = db.execute("SELECT count(*) FROM votes WHERE voter = 'alice' AND counted = 1 "
                             "AND source = 'labeling'").fetchone()[0]
    assert counted == 2  # one by mouse, one by keyboard


def test_axe_finds_no_serious_violation_on_the_login_page_the_round_or_the_labeling_view(alice):
    for state in ("home", "round", "labeling"):
        found = alice.axe[state]
        for v in found:
            print(f"axe {state}: {v['impact']} {v['id']}: {v['help']} ({', '.join(v['targets'][:5])})")
        assert blocking(found) == [], (state, blocking(found))


def test_three_failed_rounds_give_the_bot_verdict(bob):
    assert bob.rounds_seen == ["Round 1 of 3", "Round 2 of 3", "Round 3 of 3"]
    assert "Not passed" in bob.verdict


def test_after_the_verdict_no_new_challenge_and_no_login(live, bob):
    assert "Too many wrong answers lately" in bob.retry and not bob.round_shown_after_verdict
    assert live.services.captcha.cooldown_left(bob.client) > 0  # the engine's verdict, on bob's client
    assert "Pass the captcha first" in bob.login_message


def test_a_verdict_claimed_on_the_admins_name_does_not_lock_the_admin(live, bob, admin):
    assert BOT_CLAIMS == "admin" and live.services.captcha.cooldown_left(bob.client) > 0
    assert "Signed in as admin (administrator)" in admin.page.inner_text("#welcome")


def test_the_page_speaks_korean(carol):
    assert carol.page.evaluate("document.documentElement.lang") == "ko"
    assert carol.page.inner_text("#username label span").strip() == "사용자 이름"
    assert carol.widget_choices[0] == "중립" and len(carol.widget_choices) == 8
    assert carol.group_names == ["어떤 감정인가요? 클립 1/2", "어떤 감정인가요? 클립 2/2"]


@pytest.mark.parametrize("section", ["dashboard", "sites", "bots", "models"])
def test_axe_finds_no_serious_violation_in_the_admin_sections(admin, section):
    found = admin.axe[section]
    for v in found:
        print(f"axe {section}: {v['impact']} {v['id']}: {v['help']} ({', '.join(v['targets'][:5])})")
    assert blocking(found) == [], (section, blocking(found))


def test_the_admin_sees_the_tally_table_and_the_plots(live, admin):
    open_section(admin.page, "Dashboard")
    table = admin.page.inner_text("#admin-tallies")
    for clip_id in live.services.clip_ids["unverified"]:
        assert str(clip_id) in table
    for plot in PLOTS:
        assert admin.page.locator(f"{plot} canvas, {plot} svg.marks").first.bounding_box()["width"] > 300
    summary = admin.page.inner_text("#admin-summary")
    for words in ("Clip pools", "learning", "Near consensus", "Captcha policy", "the shipped default"):
        assert words in summary


def test_the_admin_dashboard_turns_korean_charts_and_all(live, admin):
    page = admin.page
    open_section(page, "Dashboard")
    page.get_by_text("한국어").click()
    wait_for_dashboard(page, "한눈에 보기", "Fleiss 카파")
    for section in ("대시보드", "생성과 학습", "봇 실험실", "사이트"):
        expect(page.get_by_role("tab", name=section, exact=True)).to_be_visible()
    expect(page.locator("#admin-tallies")).to_contain_text("미검증")
    expect(page.locator("#admin-summary")).to_contain_text("기본 제공 모델")
    page.wait_for_timeout(500)  # the charts' redraw in the new words
    admin.shot("13-admin-dashboard-korean")
    # The other sections too: their words, tables and job lines.
    open_section(page, "생성과 학습")
    expect(page.locator("#admin-train-status")).to_contain_text("학습 풀")
    expect(page.locator("#admin-models")).to_contain_text("버전")
    admin.shot("14-admin-models-korean")
    open_section(page, "사이트")
    expect(page.locator("#admin-sites")).to_contain_text("사이트 키")
    open_section(page, "대시보드")
    page.get_by_text("English").click()
    wait_for_dashboard(page, "At a glance", "Fleiss")


def test_the_admin_adds_a_site_sees_its_secret_once_and_removes_it(live, admin):
    page = admin.page
    open_section(page, "Sites")
    page.locator("#admin-site-name input").fill("Example shop")
    page.locator("#admin-site-origins textarea").fill("https://shop.example\nhttp://127.0.0.1:9")
    page.click("#admin-site-add")
    expect(page.locator("#admin-sites-message")).to_contain_text("shown once")
    site = live.services.sites.get("Example shop")
    assert site.origins == ("https://shop.example", "http://127.0.0.1:9")
    secret = page.locator("#admin-site-secret textarea, #admin-site-secret input").first.input_value()
    assert live.services.sites.by_secret(secret).sitekey == site.sitekey
    expect(page.locator("#admin-sites")).to_contain_text(site.sitekey)
    admin.page.screenshot(path=ARTIFACTS / "12-admin-site-added.png", full_page=True)
    page.click("#admin-site-remove")
    expect(page.locator("#admin-site-confirm-text")).to_contain_text("Remove Example shop")
    assert live.services.sites.get(site.sitekey) is not None  # asked, not removed yet
    page.click("#admin-site-remove-yes")
    expect(page.locator("#admin-sites-message")).to_contain_text("Removed")
    assert live.services.sites.get(site.sitekey) is None
    expect(page.locator("#admin-site-secret")).to_be_hidden()


def test_the_admin_generates_clips_and_watches_the_progress(live, admin):
    before = live.services.db.pool_counts()["unverified"]
    open_section(admin.page, "Generate and train")
    admin.page.locator("#admin-gen-count input").fill("4")
    admin.page.click("#admin-generate")
    status = admin.page.locator("#admin-gen-status")
    expect(status).to_contain_text("Generation job")
    expect(status).to_contain_text("done", timeout=120_000)  # the timer refreshes it while it runs
    expect(status).to_contain_text("4 / 4 clips")
    expect(status).to_contain_text("4 made, 0 failed")
    admin.shot("10-admin-generation")
    assert live.services.db.pool_counts()["unverified"] == before + 4
    made = [c for c in live.services.db.clips("unverified") if c["source"] == "tts"]
    assert len(made) == 4 and all(c["model_version"] and c["intended_emotion"] for c in made)


def test_the_admin_trains_a_version_and_makes_it_generate(live, admin, monkeypatch):
    """The training panel: a tiny run (seconds, a stand-in evaluation) on the learning pool's clip,
    its status and loss curve refreshed by the timer, the models table, and the version choice."""
    from insideout.tts.train import TrainConfig

    retraining = live.services.retraining
    monkeypatch.setattr(retraining, "base_config", TrainConfig(
        model_overrides=dict(tts_fixtures.TINY, emotion_dim=4), batch_size=4, steps=6, checkpoint_every=3,
        device="cpu"))
    monkeypatch.setattr(retraining, "replay_play_pool", False)
    monkeypatch.setattr(retraining, "evaluator", lambda *_: {"wer": 0.25, "teacher_wer": 0.125})
    page = admin.page
    page.click("#admin-refresh")
    open_section(page, "Generate and train")
    status = page.locator("#admin-train-status")
    expect(status).to_contain_text("Learning pool: 1 clips")  # the seeded clip that reached a consensus
    expect(page.locator("#admin-models")).to_be_visible()
    page.click("#admin-train")
    expect(status).to_contain_text("Training job")
    expect(status).to_contain_text("done", timeout=120_000)  # the timer refreshes it while it runs
    model = live.services.db.models()[0]
    expect(status).to_contain_text(f"Model {model['id']}, version {model['version']}")
    expect(page.locator("#admin-train-loss canvas, #admin-train-loss svg.marks").first).to_be_visible()
    table = page.locator("#admin-models")
    expect(table).to_contain_text("evaluated")
    expect(table).to_contain_text("25.0% (teacher 12.5%)")
    try:
        page.locator("#admin-model-choice input").fill(str(model["id"]))
        page.locator("#admin-model-choice input").press("Enter")
        page.click("#admin-use-model")
        expect(page.locator("#admin-model-in-use")).to_contain_text(f"Generating with model {model['id']}")
        # the chosen version's own row is marked (the shipped default's row no longer is)
        expect(table.locator("tr", has_text=model["version"])).to_contain_text("✓ active")
        admin.shot("11-admin-training")
        assert live.services.db.active_model()["id"] == model["id"]
    finally:
        retraining.set_active(None)  # later tests generate with the default model


def test_a_volunteer_calling_an_admin_handler_is_refused(live, alice):
    """Alice's own signed-in session sends the admin event (its tab is hidden from her)."""
    with live.client() as http:
        dependencies = http.get("/config").json()["dependencies"]
    fn = {d.get("api_name"): d["id"] for d in dependencies}
    session = [j["session_hash"] for j in alice.joins if j][-1]  # the page as it is now, after the reload
    call = {"session_hash": session}
    refused = alice.page.evaluate(CALL_EVENT, {**call, "fn_index": fn["admin_refresh"],
                                               "data": [None, "all", "all", "clip", "counts"]})
    assert refused["success"] is False
    assert "administrator role" in refused["output"]["error"]
    # The same session passes a volunteer's handler: it is signed in, just not an admin.
    allowed = alice.page.evaluate(CALL_EVENT, {**call, "fn_index": fn["label_skip"], "data": [None]})
    assert allowed["success"] is True


# -- no answer in the page ---------------------------------------------------------------------


EMOTION_WORDS = [w for e in EMOTIONS for w in (e.id, e.en, e.ko)]
WORD = re.compile("|".join(rf"\b{re.escape(w)}\b" for w in EMOTION_WORDS), re.IGNORECASE)


MENU = sorted(e.id for e in EMOTIONS)


def without_menus(value):
    """A JSON value with the emotion menus taken out: radio choices, and lists of exactly the eight
    ids and example inputs (Gradio's API description of the same menu: the first choice)."""
    if isinstance(value, dict):
        return {k: without_menus(v) for k, v in value.items() if k not in ("choices", "example_inputs")}
    if isinstance(value, list):
        if sorted(map(str, value)) == MENU:
            return []
        return [without_menus(v) for v in value]
    return value


def json_strings(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in json_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in json_strings(v)]
    return [value] if isinstance(value, str) else []


def secrets_of(services, challenges: bool = True) -> list[str]:
    """What must never reach a visitor: clip ids, storage names, hashes, the data dir's path; and, unless
    `challenges` is False, the challenge ids and slots (the widget gets those of its own challenges from the
    API, as on any site; they name no clip and no label)."""
    out = [str(services.settings.data_dir.resolve())]
    for row in services.db.clips():
        out += [str(row["id"]), row["audio_name"], row["sha256"]]
    if not challenges:
        return out
    with services.db.read() as db:
        out += [r[0] for r in db.execute("SELECT id FROM challenges")]
        out += [r[0] for r in db.execute("SELECT slot FROM slots")]
    return out


def label_words_in(body_text: str, kind: str) -> list[str]:
    """Emotion words in the JSON values of a response (a JSON body or an event stream)."""
    if "json" in kind:
        values = [json.loads(body_text)] if body_text.strip() else []
    elif "event-stream" in kind:
        values = []
        for line in body_text.splitlines():
            if line.startswith("data:") and line[5:].strip() != "ALIVE":  # ALIVE: the heartbeat
                try:
                    values.append(json.loads(line[5:]))
                except ValueError:
                    raise AssertionError(f"not JSON: {line[:300]!r}") from None
    else:
        return []
    return [m for v in values for s in json_strings(without_menus(v)) for m in WORD.findall(s)]


def test_no_label_clip_id_or_storage_name_reaches_a_visitor(live, alice, bob, carol):
    hidden = secrets_of(live.services, challenges=False)
    visitors = (alice, bob, carol)
    checked = 0
    for v in visitors:
        for url in v.urls:
            for secret in hidden:
                assert secret not in url, (v.name, url, secret)
        for url, kind, body in v.bodies():
            checked += 1
            for secret in hidden:
                assert secret.encode() not in body, (v.name, url, secret)
            if not kind.startswith("audio/"):
                assert label_words_in(body.decode(), kind) == [], (v.name, url, body[:200])
        for snapshot in v.pages:
            for secret in hidden:
                assert secret not in snapshot["html"], (v.name, secret)
            assert WORD.findall(snapshot["text"]) == [], v.name
            assert WORD.findall(snapshot["attrs"]) == [], v.name
    assert checked > 20


def test_gradio_config_names_no_label_clip_or_data_dir(live):
    with live.client() as http:
        text = http.get("/config").text
    for secret in secrets_of(live.services):
        assert secret not in text
    config = json.loads(text)
    found = [m for part in ("components", "dependencies", "layout")
             for s in json_strings(without_menus(config[part])) for m in WORD.findall(s)]
    assert found == []
