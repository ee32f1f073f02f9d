"""The app in a real browser: Debian's Chromium driven by Playwright (.ci/install_browser.sh installs it).

Visitors log in through the captcha, fail it, switch to Korean and label clips; an admin reads the
dashboard. Each visitor is a browser context that records the page and every response it receives,
so the last test can look for answers in what reached the browser. Screenshots go to artifacts/.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from insideout.accounts import DEMO_PASSWORD
from insideout.db import Vote
from insideout.emotions import EMOTIONS
from insideout.services import build_services
from tests import tts_fixtures
from tests.conftest import LiveServer, make_settings, stock
from tests.helpers import answers
from tests.test_api import wav_chunks

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
ADMIN_PASSWORD = "admin-password-for-the-browser"
# Clip ids start here, so that an id in a page is a long, unmistakable number.
FIRST_CLIP_ID = 48_151_623
WAIT_MS = 20_000

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
    services = build_services(make_settings(folder / "data", admin_password=ADMIN_PASSWORD,
                                            tts_checkpoint=str(checkpoint)))
    with services.db.transaction() as db:  # a retired row that sets where the clip ids start
        db["clips"].insert({"id": FIRST_CLIP_ID - 1, "audio_name": secrets.token_hex(16), "pool": "play",
                            "store_pool": "play", "label": "calm", "label_source": "trusted",
                            "retired": "id-start", "source": "test", "provenance": "{}",
                            "duration_s": 0.4, "sha256": secrets.token_hex(32), "created_at": 0,
                            "updated_at": 0})
    services.clip_ids = stock(services, play=24, unverified=6)
    seed(services)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.2")  # closed pages let go of the server at once
        with LiveServer(services) as server:
            yield server


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: run .ci/install_browser.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Visitor:
    """One person in their own browser context, recording the page and each response it gets."""

    def __init__(self, browser: Browser, url: str, name: str):
        self.name = name
        self.context = browser.new_context(viewport={"width": 1200, "height": 900})
        self.context.add_init_script(TAP)
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.urls = []  # every request the page made
        self.finished = []  # requests whose response arrived whole
        self.joins = []  # the bodies of the events this page sent
        self.pages = []  # READ_PAGE snapshots
        self.page.on("request", self._on_request)
        self.page.on("requestfinished", lambda r: self.finished.append(r))
        self.page.goto(url)
        expect(self.page.locator("#login")).to_be_visible()

    def snapshot(self) -> None:
        self.pages.append(self.page.evaluate(READ_PAGE))

    def shot(self, name: str) -> None:
        self.snapshot()
        self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)

    def log_in(self, username: str, password: str) -> None:
        self.page.fill("#username input", username)
        self.page.fill("#password input", password)
        self.page.click("#login")

    def answer_round(self, services, right: bool) -> None:
        """Pick for every clip shown (the right answer read from the server's database)."""
        cid = open_challenge(services)
        given = answers(services, cid, right)
        for i, slot in enumerate(s.slot for s in services.db.get_challenge(cid).slots):
            self.page.locator(f"#clip-{i} input[value='{given[slot]}']").check()
        self.page.click("#submit")

    def _on_request(self, request) -> None:
        self.urls.append(request.url)
        if "/queue/join" in request.url:
            self.joins.append(request.post_data_json)

    def bodies(self) -> list[tuple[str, str, bytes]]:
        """(url, content type, body) of what the app sent, its static assets aside: whole responses
        from the network log, event streams from the page's fetch tap."""
        out = []
        for request in self.finished:
            url = request.url
            if "/assets/" in url or "/static/" in url or url.startswith(("blob:", "data:")):
                continue
            response = request.response()
            if response is not None and "event-stream" not in response.headers.get("content-type", ""):
                out.append((url, response.headers.get("content-type", ""), response.body()))
        for entry in self.page.evaluate("window.__traffic"):
            if "event-stream" in entry["kind"]:
                out.append((entry["url"], entry["kind"], entry["text"].encode()))
        return out

    def close(self) -> None:
        self.context.close()


def open_challenge(services) -> str:
    with services.db.read() as db:
        return db.execute("SELECT id FROM challenges WHERE state = 'open' "
                          "ORDER BY created_at DESC LIMIT 1").fetchone()[0]


# -- the journeys (each once per module; the tests below read what they recorded) --------------


@pytest.fixture(scope="module")
def alice(live, browser):
    """Logs in, hears the clips, answers right, reaches the signed-in page and labels a clip."""
    v = Visitor(browser, live.url, "alice")
    v.shot("01-home")
    v.log_in("alice", DEMO_PASSWORD)
    expect(v.page.locator("#round-counter")).to_contain_text("Round 1 / 3")
    v.page.wait_for_function(
        "window.__media.filter(a => a.currentSrc && a.readyState >= 1 && a.duration > 0).length >= 2")
    v.media = v.page.evaluate(
        "window.__media.filter(a => a.currentSrc).map(a => ({src: a.currentSrc, ready: a.readyState,"
        " duration: a.duration}))")
    v.page.click("#clip-0 button[aria-label='Play']")
    v.page.wait_for_function("window.__media.some(a => !a.paused && a.currentTime > 0)")
    v.shot("02-captcha-round-1")
    v.answer_round(live.services, right=True)
    expect(v.page.locator("#welcome")).to_contain_text("Signed in as alice")
    expect(v.page.locator("#label-audio audio").first).to_be_attached()
    v.shot("03-signed-in")
    v.page.locator("#label-choice input[value='sad']").check()
    v.page.click("#send-label")
    expect(v.page.locator("#label-message")).to_contain_text("your vote counts")
    v.shot("04-label-sent")
    yield v
    v.close()


@pytest.fixture(scope="module")
def bob(live, browser):
    """Fails three rounds, gets the bot verdict, then tries again during the cooldown."""
    v = Visitor(browser, live.url, "bob")
    v.log_in("bob", DEMO_PASSWORD)
    v.rounds_seen = []
    for n in (1, 2, 3):
        expect(v.page.locator("#round-counter")).to_contain_text(f"Round {n} / 3")
        # The counter's own text (the progress overlay may still be fading out around it).
        v.rounds_seen.append(re.search(r"Round \d+ / \d+", v.page.inner_text("#round-counter")).group())
        if n == 3:
            v.shot("05-round-3-of-3")
        v.answer_round(live.services, right=False)
    expect(v.page.locator("#login-message")).to_contain_text("Bot verdict")
    v.verdict = v.page.inner_text("#login-message")
    v.shot("06-bot-verdict")
    v.log_in("bob", DEMO_PASSWORD)
    expect(v.page.locator("#login-message")).to_contain_text("Try again in")
    v.retry = v.page.inner_text("#login-message")
    v.captcha_shown_after_verdict = v.page.locator("#round-counter").is_visible()
    v.shot("07-cooldown")
    yield v
    v.close()


@pytest.fixture(scope="module")
def carol(live, browser):
    """Switches the page to Korean and opens the captcha."""
    v = Visitor(browser, live.url, "carol")
    v.page.get_by_text("한국어").click()
    expect(v.page.locator("#login")).to_have_text("로그인")
    v.log_in("carol", DEMO_PASSWORD)
    expect(v.page.locator("#round-counter")).to_contain_text("라운드 1 / 3")
    labels = v.page.locator("#clip-0 .emotion-choices label")
    expect(labels).to_have_count(8)
    v.choice_labels = labels.all_inner_texts()
    v.shot("08-korean-captcha")
    yield v
    v.close()


@pytest.fixture(scope="module")
def admin(live, browser):
    """Logs in as the admin and opens the dashboard."""
    v = Visitor(browser, live.url, "admin")
    v.log_in("admin", ADMIN_PASSWORD)
    expect(v.page.locator("#round-counter")).to_contain_text("Round 1 / 3")
    v.answer_round(live.services, right=True)
    expect(v.page.locator("#welcome")).to_contain_text("Signed in as admin")
    v.page.get_by_role("tab", name="Admin").click()
    expect(v.page.locator("#admin-tallies")).to_contain_text(str(live.services.clip_ids["unverified"][1]))
    expect(v.page.locator("#admin-confusion img")).to_be_visible()
    for plot in ("#admin-by-emotion", "#admin-by-round", "#admin-over-time"):
        expect(v.page.locator(f"{plot} canvas, {plot} svg.marks").first).to_be_visible()
    expect(v.page.locator("#admin-agreement")).to_contain_text("Fleiss")
    v.page.click("#admin-export")
    expect(v.page.locator("a[href$='/insideout-votes.csv']")).to_be_visible()
    v.shot("09-admin-dashboard")
    yield v
    v.close()


# -- what a person sees ------------------------------------------------------------------------


def test_the_clips_of_a_round_are_playable(alice):
    assert len(alice.media) >= 2
    for audio in alice.media:
        assert audio["src"].startswith("blob:") and audio["ready"] >= 1 and 0.2 < audio["duration"] < 5


def test_the_audio_the_page_fetches_is_a_plain_wav_under_a_blind_name(live, alice):
    urls = [u for u in alice.urls if "/gradio_api/file=" in u]
    assert len(urls) >= 3  # two captcha clips and the clip to label
    with live.client() as http:
        for url in urls:
            assert url.endswith("/audio.wav")
            r = http.get(url)
            assert r.headers["content-type"] == "audio/wav"
            assert wav_chunks(r.content) == [b"fmt ", b"data"]


def test_a_right_answer_reaches_the_signed_in_page(alice):
    assert "Signed in as alice (volunteer)" in alice.page.inner_text("#welcome")
    assert not alice.page.get_by_role("tab", name="Admin").is_visible()


def test_a_volunteer_label_is_counted(live, alice):
    with live.services.db.read() as db:
        counted = db.execute("SELECT count(*) FROM votes WHERE voter = 'alice' AND counted = 1 "
                             "AND source = 'labeling'").fetchone()[0]
    assert counted == 1


def test_three_failed_rounds_give_the_bot_verdict(bob):
    assert bob.rounds_seen == ["Round 1 / 3", "Round 2 / 3", "Round 3 / 3"]
    assert "Bot verdict" in bob.verdict and "Try again in 60 s" in bob.verdict


def test_after_the_verdict_the_login_waits(bob):
    assert "Try again in" in bob.retry
    assert not bob.captcha_shown_after_verdict


def test_the_page_speaks_korean(carol):
    assert carol.choice_labels[0] == "중립 · Neutral" and len(carol.choice_labels) == 8
    assert "로그인" not in carol.page.inner_text("#round-counter")


def test_the_admin_sees_the_tally_table_and_the_plots(live, admin):
    table = admin.page.inner_text("#admin-tallies")
    for clip_id in live.services.clip_ids["unverified"]:
        assert str(clip_id) in table
    assert admin.page.locator("#admin-confusion img").evaluate("img => img.naturalWidth") > 300
    assert "learning" in admin.page.inner_text("#admin-pools")


def test_the_admin_generates_clips_and_watches_the_progress(live, admin):
    before = live.services.db.pool_counts()["unverified"]
    admin.page.locator("#admin-gen-count input").fill("4")
    admin.page.click("#admin-generate")
    status = admin.page.locator("#admin-gen-status")
    expect(status).to_contain_text("Generation job", timeout=WAIT_MS)
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
    status = page.locator("#admin-train-status")
    expect(status).to_contain_text("Learning pool: 1 clips")  # the seeded clip that reached a consensus
    expect(page.locator("#admin-models")).to_be_visible()
    page.click("#admin-train")
    expect(status).to_contain_text("Training job", timeout=WAIT_MS)
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
        expect(table).to_contain_text("✓ active")
        admin.shot("11-admin-training")
        assert live.services.db.active_model()["id"] == model["id"]
    finally:
        retraining.set_active(None)  # later tests generate with the default model


def test_a_volunteer_calling_an_admin_handler_is_refused(live, alice):
    """Alice's own signed-in session sends the admin event (its tab is hidden from her)."""
    with live.client() as http:
        dependencies = http.get("/config").json()["dependencies"]
    fn = {d.get("api_name"): d["id"] for d in dependencies}
    session = next(j["session_hash"] for j in alice.joins if j)
    call = {"session_hash": session}
    refused = alice.page.evaluate(CALL_EVENT, {**call, "fn_index": fn["admin_refresh"],
                                               "data": [None, "all", "all", "clip"]})
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


def secrets_of(services) -> list[str]:
    """What must never reach a visitor: clip ids, storage names, hashes, the data dir's path, and
    the challenge ids and slots that the server keeps in the tab's state."""
    out = [str(services.settings.data_dir.resolve())]
    for row in services.db.clips():
        out += [str(row["id"]), row["audio_name"], row["sha256"]]
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
    hidden = secrets_of(live.services)
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
