"""The Lambda entry point (insideout.web.lambda_api.handler) invoked with API Gateway's HTTP API events, as the
deployed function is, against DynamoDB and S3 on moto: a whole captcha cycle, and siteverify, through it."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from insideout.services import build_services
from insideout.settings import settings_from_env
from tests.conftest import SECRET, stock, tables_for
from tests.helpers import answers
from tests.s3_fixtures import new_bucket


def event(method: str, path: str, body: dict | None = None, source_ip: str = "198.51.100.7") -> dict:
    """An API Gateway HTTP API (payload 2.0) event, the stack's integration."""
    return {
        "version": "2.0", "routeKey": "ANY /api/v1/{proxy+}", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example"},
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                                    "userAgent": "test"},
                           "requestId": uuid.uuid4().hex, "stage": "$default", "domainName": "api.example"},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def reply(response: dict) -> tuple[int, dict | bytes]:
    body = response.get("body") or ""
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    kind = {k.lower(): v for k, v in response.get("headers", {}).items()}.get("content-type", "")
    return response["statusCode"], json.loads(raw) if kind.startswith("application/json") else raw


@pytest.fixture
def deployed(moto, aws_env, tmp_path, monkeypatch):
    """What the stack gives the function: tables, a bucket, the secret key; a stocked library in them."""
    moto.start()
    env = {
        "INSIDEOUT_METADATA": "dynamodb",
        "INSIDEOUT_DYNAMODB_TABLE_PREFIX": tables_for(f"l{uuid.uuid4().hex[:12]}-", moto.url),
        "INSIDEOUT_DYNAMODB_ENDPOINT_URL": moto.url,
        "INSIDEOUT_STORAGE": "s3",
        "INSIDEOUT_S3_BUCKET": new_bucket(moto),
        "INSIDEOUT_S3_ENDPOINT_URL": moto.url,
        "INSIDEOUT_S3_ADDRESSING_STYLE": "path",
        "INSIDEOUT_SECRET_KEY": SECRET,
        "INSIDEOUT_DATA_DIR": str(tmp_path / "lambda"),
        "INSIDEOUT_FAIL_COOLDOWN_S": "0",
        "INSIDEOUT_SERVE_BUDGET": "0",
        "INSIDEOUT_PLAY_POOL_TARGET": "0",
        "INSIDEOUT_ROUNDS_TO_PASS": "1",
        "INSIDEOUT_MAX_ROUNDS": "2",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    services = build_services(settings_from_env({**env, "INSIDEOUT_DATA_DIR": str(tmp_path / "here")}),
                              announce=lambda _: None)
    stock(services)
    from insideout.web import lambda_api

    monkeypatch.setattr(lambda_api, "_handler", None)  # a cold start with this environment
    return services


def test_a_captcha_cycle_through_the_lambda_handler_passes_and_its_token_verifies_once(deployed):
    from insideout.web.lambda_api import handler

    status, opened = reply(handler(event("POST", "/api/v1/challenges", {}), None))
    assert status == 201
    cid = opened["challenge_id"]
    status, audio = reply(handler(event("GET", opened["clips"][0]["audio_url"]), None))
    assert status == 200 and audio[:4] == b"RIFF"
    given = answers(deployed, cid, right=True)
    status, answered = reply(handler(event("POST", f"/api/v1/challenges/{cid}/answer", {"answers": given}), None))
    assert status == 200 and answered["status"] == "passed"
    check = {"secret": deployed.sites.builtin_secret(), "response": answered["token"]}
    assert reply(handler(event("POST", "/api/v1/siteverify", check), None))[1]["success"] is True
    again = reply(handler(event("POST", "/api/v1/siteverify", check), None))[1]
    assert again["success"] is False and again["error_codes"] == ["timeout-or-duplicate"]


def test_the_lambda_handler_answers_an_unknown_challenge_with_the_apis_json_refusal(deployed):
    from insideout.web.lambda_api import handler

    status, body = reply(handler(event("POST", "/api/v1/challenges/nope/answer", {"answers": {"a": "happy"}}), None))
    assert status == 404 and body["error"] == "not_found"
