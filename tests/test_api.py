"""The HTTP API through a real server on loopback."""

import io
import json
import struct

import pytest
import soundfile as sf

from insideout.emotions import EMOTION_IDS
from tests.conftest import ADMIN_TOKEN, serve
from tests.helpers import answers


def new_challenge(http) -> dict:
    r = http.post("/api/v1/challenges", json={})
    assert r.status_code == 201, r.text
    return r.json()


def answer(http, body: dict, cid: str):
    return http.post(f"/api/v1/challenges/{cid}/answer", json={"answers": body})


def test_health(http):
    assert http.get("/api/v1/health").json() == {"status": "ok"}


def test_a_full_cycle_challenge_audio_answer_pass_siteverify(server, http):
    c = new_challenge(http)
    assert set(c) == {"challenge_id", "expires_at", "round", "max_rounds", "emotions", "clips", "feedback"}
    assert c["emotions"] == list(EMOTION_IDS) and c["round"] == 1 and c["max_rounds"] == 3
    for clip in c["clips"]:
        r = http.get(clip["audio_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        samples, sr = sf.read(io.BytesIO(r.content))
        assert sr == 22050 and samples.ndim == 1 and len(samples) > 1000
    r = answer(http, answers(server.services, c["challenge_id"], True), c["challenge_id"])
    assert r.status_code == 200
    result = r.json()
    assert result["status"] == "passed" and result["round"] == 1 and result["token"]
    secret = server.services.sites.builtin_secret()
    verdict = http.post("/api/v1/siteverify", json={"secret": secret, "response": result["token"]}).json()
    assert verdict["success"] is True and verdict["error_codes"] == []
    assert verdict["sitekey"] == "builtin" and verdict["method"] == "audio" and verdict["challenge_ts"].endswith("Z")
    again = http.post("/api/v1/siteverify", json={"secret": secret, "token": result["token"]}).json()
    assert again["success"] is False and again["error_codes"] == ["timeout-or-duplicate"]


def test_a_retry_names_the_next_rounds_clips(server, http):
    c = new_challenge(http)
    result = answer(http, answers(server.services, c["challenge_id"], False), c["challenge_id"]).json()
    assert result["status"] == "retry" and result["round"] == 2 and "token" not in result
    assert {x["slot"] for x in result["clips"]}.isdisjoint({x["slot"] for x in c["clips"]})
    assert http.get(c["clips"][0]["audio_url"]).status_code == 404  # the old round is gone
    assert http.get(result["clips"][0]["audio_url"]).status_code == 200


def test_three_failures_are_failed(server, http):
    c = new_challenge(http)
    for expected in ["retry", "retry", "failed"]:
        r = answer(http, answers(server.services, c["challenge_id"], False), c["challenge_id"])
        assert r.json()["status"] == expected
    r = answer(http, {"x" * 8: "sad"}, c["challenge_id"])
    assert r.status_code == 409 and r.json()["error"] == "challenge_closed"


def test_the_openapi_document_lists_the_contract(http):
    paths = http.get("/openapi.json").json()["paths"]
    for path in ["/api/v1/challenges", "/api/v1/challenges/{challenge_id}/audio/{slot}",
                 "/api/v1/challenges/{challenge_id}/answer", "/api/v1/siteverify",
                 "/api/v1/admin/tallies", "/api/v1/health"]:
        assert path in paths


def test_the_gradio_page_is_served_beside_the_api(http):
    r = http.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()


# -- bad input --------------------------------------------------------------------------------


def state_of(server, cid):
    ch = server.services.db.get_challenge(cid)
    return ch.state, ch.round, ch.slots


@pytest.mark.parametrize(
    "content,status",
    [
        (b"{not json", 422),
        (b"[]", 422),
        (b'{"answers": "sad"}', 422),
        (b'{"answers": {"a": 5}}', 422),
        (b'{"answers": {}}', 422),
        (b'{"answers": {"nope": "sad"}}', 422),
        (b'{"answers": {"x": "sad"}, "extra": 1}', 422),
        (b"", 422),
    ],
)
def test_bad_answers_get_a_4xx_json_error_and_change_nothing(server, http, content, status):
    c = new_challenge(http)
    before = state_of(server, c["challenge_id"])
    r = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer", content=content,
                  headers={"content-type": "application/json"})
    assert r.status_code == status
    body = r.json()
    assert "error" in body and "Traceback" not in r.text
    assert state_of(server, c["challenge_id"]) == before


def test_an_unknown_emotion_is_a_422(server, http):
    c = new_challenge(http)
    body = {x["slot"]: "bored" for x in c["clips"]}
    r = answer(http, body, c["challenge_id"])
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"  # the OpenAPI lists the eight


def test_a_huge_body_is_a_413(server, http):
    c = new_challenge(http)
    huge = json.dumps({"answers": {"a": "sad" * 100_000}})
    r = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer", content=huge,
                  headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_a_huge_chunked_body_is_a_413(server, http):
    c = new_challenge(http)

    def chunks():
        yield b'{"answers": {"a": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}}'

    r = http.post(f"/api/v1/challenges/{c['challenge_id']}/answer", content=chunks(),
                  headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/challenges/..%2F..%2Fetc%2Fpasswd/answer",
        "/api/v1/challenges/%00/answer",
        "/api/v1/challenges/" + "a" * 5000 + "/answer",
        "/api/v1/challenges/unknown-challenge-id-000000/answer",
    ],
)
def test_path_tricks_in_ids_are_404(http, path):
    r = http.post(path, json={"answers": {"a": "sad"}})
    assert r.status_code == 404 and r.json()["error"]


@pytest.mark.parametrize("slot", ["..%2F..%2Fsecret_key", "x", "a" * 300, "%2e%2e"])
def test_path_tricks_in_slots_are_404(http, slot):
    c = new_challenge(http)
    r = http.get(f"/api/v1/challenges/{c['challenge_id']}/audio/{slot}")
    assert r.status_code == 404


@pytest.mark.parametrize("body", [b"{}", b'{"token": 5}', b'{"token": "v1.a.b"}', b"nope"])
def test_bad_tokens_do_not_verify(http, body):
    r = http.post("/api/v1/siteverify", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (200, 400)
    if r.status_code == 200:
        assert r.json()["success"] is False


def test_challenge_body_must_be_empty_object(http):
    r = http.post("/api/v1/challenges", json={"difficulty": "easy"})
    assert r.status_code == 422


# -- refusals of service ----------------------------------------------------------------------


def test_an_empty_play_pool_answers_503(tmp_path):
    with serve(tmp_path, play=0, unverified=0) as live, live.client() as http:
        r = http.post("/api/v1/challenges", json={})
    assert r.status_code == 503 and "play pool" in r.json()["message"]


def test_too_many_new_challenges_get_429(tmp_path):
    with serve(tmp_path, rate_limit_per_min=3) as live, live.client() as http:
        codes = [http.post("/api/v1/challenges", json={}).status_code for _ in range(5)]
        r = http.post("/api/v1/challenges", json={})
    assert codes == [201, 201, 201, 429, 429]
    assert r.json()["error"] == "rate_limited" and int(r.headers["retry-after"]) >= 1


def test_the_limit_is_per_client_behind_a_trusted_proxy(tmp_path):
    import ipaddress

    proxies = (ipaddress.ip_network("127.0.0.0/8"),)
    with serve(tmp_path, rate_limit_per_min=2, trusted_proxies=proxies) as live, live.client() as http:
        a = [http.post("/api/v1/challenges", json={}, headers={"x-forwarded-for": "198.51.100.1"})
             .status_code for _ in range(3)]
        b = http.post("/api/v1/challenges", json={}, headers={"x-forwarded-for": "198.51.100.2"})
    assert a == [201, 201, 429] and b.status_code == 201


# -- admin ------------------------------------------------------------------------------------


def test_admin_tallies_need_the_bearer_token(http):
    assert http.get("/api/v1/admin/tallies").status_code == 401
    assert http.get("/api/v1/admin/tallies", headers={"authorization": "Bearer wrong"}).status_code == 401
    r = http.get("/api/v1/admin/tallies", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 200
    body = r.json()
    assert body["rule"] == {"min_votes": 10, "min_share": 0.6, "ambiguous_after": 30}
    assert {c["pool"] for c in body["clips"]} == {"unverified"}
    assert set(body["clips"][0]["votes"]) == set(EMOTION_IDS)


def test_admin_api_is_off_without_a_token(tmp_path):
    with serve(tmp_path, admin_token=None) as live, live.client() as http:
        r = http.get("/api/v1/admin/tallies", headers={"authorization": "Bearer anything-at-all"})
    assert r.status_code == 404 and r.json()["error"] == "admin_off"


def wav_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    chunks, pos = [], 12
    while pos < len(data):
        chunks.append(data[pos:pos + 4])
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        pos += 8 + size + (size & 1)
    return chunks


def test_served_audio_has_no_metadata_chunks(http):
    c = new_challenge(http)
    data = http.get(c["clips"][0]["audio_url"]).content
    assert wav_chunks(data) == [b"fmt ", b"data"]


def test_each_serving_of_a_clip_differs_in_its_bytes(http):
    c = new_challenge(http)
    url = c["clips"][0]["audio_url"]
    assert http.get(url).content != http.get(url).content
