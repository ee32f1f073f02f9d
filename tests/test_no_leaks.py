"""A CAPTCHA is worth nothing if answers leak: collect everything a client receives and look for
labels, clip ids, storage names and pool names in it."""

import json

from insideout.emotions import EMOTION_IDS
from tests.helpers import answers
from tests.test_api import wav_chunks

POOL_WORDS = ("play", "unverified", "learning")


def collect(server, http) -> list:
    """Run passing and failing cycles, returning every response the client saw."""
    seen = []

    def keep(r):
        seen.append(r)
        return r

    services = server.services
    for right in (True, False):
        c = keep(http.post("/api/v1/challenges", json={})).json()
        cid, clips = c["challenge_id"], c["clips"]
        while True:
            for clip in clips:
                keep(http.get(clip["audio_url"]))
            result = keep(http.post(f"/api/v1/challenges/{cid}/answer",
                                    json={"answers": answers(services, cid, right)})).json()
            if result["status"] != "retry":
                break
            clips = result["clips"]
        if result.get("token"):
            keep(http.post("/api/v1/siteverify", json={"secret": server.services.sites.builtin_secret(),
                                                          "response": result["token"]}))
        keep(http.post(f"/api/v1/challenges/{cid}/answer", json={"answers": {"x": "sad"}}))
    return seen


def secrets_of(services) -> list[str]:
    out = []
    for row in services.db.clips():
        out += [row["audio_name"], row["sha256"], row["text"]]
    return out


def numbers_in(value, key=None):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from numbers_in(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from numbers_in(v, key)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield key


def test_no_response_header_or_body_carries_a_secret(server, http):
    responses = collect(server, http)
    secret = secrets_of(server.services)
    assert len(responses) > 8
    for r in responses:
        headers = "\n".join(f"{k}: {v}" for k, v in r.headers.items()).lower()
        assert "content-disposition" not in headers
        for s in secret:
            assert s.lower() not in headers
            assert s.encode() not in r.content
        if r.headers["content-type"].startswith("application/json"):
            body = r.json()
            body.pop("emotions", None)  # the menu of choices, the same for every clip
            body.pop("sitekey", None)  # siteverify names the site's public key (to the site's server)
            text = json.dumps(body).lower()
            for word in [*EMOTION_IDS, *POOL_WORDS, "clip_id", "label", "file", "key"]:
                assert f'"{word}' not in text and f"{word}\"" not in text, (word, text)
            # Numbers are only the round counters and the expiry: never a clip id.
            assert set(numbers_in(body)) <= {"round", "max_rounds", "expires_at"}


def test_served_wavs_carry_nothing_but_sound(server, http):
    secret = secrets_of(server.services)
    for r in collect(server, http):
        if r.headers["content-type"] == "audio/wav":
            assert wav_chunks(r.content) == [b"fmt ", b"data"]
            # Short words could occur in random PCM by chance; the chunk check covers metadata.
            for s in secret:
                assert s.encode() not in r.content
