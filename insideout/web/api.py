"""The HTTP API (the README's table; /openapi.json): thin handlers that call the engine and translate its
refusals. With INSIDEOUT_POW_DIFFICULTY above 0, a new challenge needs a solved proof-of-work puzzle
(insideout.pow: the rules; GET /api/v1/pow.js: the browser's solver).

Every challenge belongs to a site (insideout.sites). A browser may call the captcha's routes only from that
site's registered origins: SiteCors answers exactly those origins, on preflight and on real replies, and a
handler refuses any other Origin before it creates or spends anything. Requests without an Origin (a
server, a script) are not a browser's and pass; siteverify and the admin routes never answer CORS."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import time
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import pow as proof
from .. import testkeys
from ..captcha import (
    BadAnswer,
    CaptchaError,
    Closed,
    CoolingDown,
    Expired,
    NoClips,
    NotFound,
    Policy,
    RoundView,
)
from ..constant_time import same
from ..disk_errors import diagnose
from ..emotions import EMOTION_IDS
from ..ratelimit import RateLimited
from ..services import Services
from ..sites import BUILTIN_SITEKEY, TEST_SITEKEY_PASSES, TEST_SITEKEYS, Site, hostname_of, origin_allowed
from ..storage import StoreUnavailable
from .client import client_of, own_hosts

log = logging.getLogger("insideout.api")
PREFIX = "/api/v1"

STATUS_OF = {NotFound: 404, Closed: 409, Expired: 410, BadAnswer: 422, NoClips: 503, CoolingDown: 429}
ACTION = r"^[A-Za-z0-9_-]{1,32}$"
SITEKEY = r"^[A-Za-z0-9_-]{1,64}$"
WIDGET_VERSION = "1"
WIDGET_JS = resources.files(__package__).joinpath("static/widget.js")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        self.status, self.code, self.message, self.headers = status, code, message, headers


def _whole(value: Any) -> Any:
    # JSON has one number type: 12.0 is the integer 12 to JSON Schema, and a client's encoder may write it so.
    # Strings and other fractions stay what they are, for the strict check to refuse.
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole)]


class PowSolutionIn(BaseModel):
    """A puzzle from GET /api/v1/pow, as it came, with the nonce that solves it."""

    model_config = ConfigDict(extra="forbid")
    algorithm: str = Field(default=proof.ALGORITHM, max_length=16, description=f"`{proof.ALGORITHM}`")
    salt: str = Field(max_length=64, description="the puzzle's salt (32 hex digits)")
    difficulty: WholeNumber = Field(ge=0, le=256, strict=True, description="the puzzle's difficulty, as issued")
    expires_at: WholeNumber = Field(ge=0, le=proof.MAX_EXPIRES_AT, strict=True, description="as issued")
    signature: str = Field(max_length=128, description="as issued")
    nonce: str = Field(max_length=64, description="1 to 16 lowercase hex digits: sha256(salt + nonce) starts "
                                                  "with `difficulty` zero bits")


class ChallengeBody(BaseModel):
    """`{"sitekey"}` (`{}`: the app's own site); with proof of work on, also `"pow": {...}`."""

    model_config = ConfigDict(extra="forbid")
    sitekey: str | None = Field(default=None, pattern=SITEKEY, description="the site's public key; omitted: the "
                                                                          "app's own built-in site")
    action: str | None = Field(default=None, pattern=ACTION, description="the site's label for where the captcha "
                                                                       "is used (e.g. `login`); siteverify says it")
    pow: PowSolutionIn | None = Field(default=None, description="a solved puzzle: required when the server asks "
                                                                "for proof of work (ignored when it does not)")


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: dict[str, Literal[EMOTION_IDS]] = Field(min_length=1, description="slot -> emotion id, one entry "
                                                                                 "per slot of the round")


class AlternativeBody(BaseModel):
    """The route for people who cannot hear: a solved puzzle from GET /api/v1/pow?for=alternative."""

    model_config = ConfigDict(extra="forbid")
    sitekey: str | None = Field(default=None, pattern=SITEKEY)
    action: str | None = Field(default=None, pattern=ACTION)
    pow: PowSolutionIn


class AlternativeOut(BaseModel):
    status: str = Field(description="`passed` (`failed` only for the test key that always fails)")
    token: str | None = None
    method: str = "pow"


class ClipRef(BaseModel):
    slot: str
    audio_url: str


class ChallengeOut(BaseModel):
    challenge_id: str
    expires_at: float
    round: int
    max_rounds: int
    emotions: list[str]
    clips: list[ClipRef]
    feedback: str = Field(description="`immediate`: `retry` means the last round was wrong; `deferred`: `retry` "
                                      "means only \"go on\" (the outcome comes after the last round)")


class AnswerOut(BaseModel):
    status: str
    round: int
    clips: list[ClipRef] | None = None
    expires_at: float | None = None
    token: str | None = None


class VerifyOut(BaseModel):
    success: bool
    error_codes: list[str]
    challenge_ts: str | None = Field(default=None, description="when the challenge was passed (ISO 8601, UTC)")
    hostname: str | None = Field(default=None, description="the host of the page that solved it (from its "
                                                           "Origin); null when no browser Origin was sent")
    sitekey: str | None = None
    action: str | None = None
    method: str | None = Field(default=None, description="`audio` (the emotion rounds) or `pow` (the route for "
                                                        "people who cannot hear: proof of work only)")


class PuzzleOut(BaseModel):
    algorithm: str = Field(description=f"`{proof.ALGORITHM}`")
    salt: str = Field(description="32 random hex digits")
    difficulty: int = Field(description="leading zero bits sha256(salt + nonce) must have; 0: proof of work is off "
                                        "(any nonce solves it)")
    expires_at: int = Field(description="Unix seconds")
    signature: str = Field(description="the server's HMAC of the fields above; send it back unchanged")


class ErrorOut(BaseModel):
    error: str
    message: str


# What each refusal status means, for the OpenAPI: every operation lists every status it can answer.
REFUSALS = {
    400: "`invalid_sitekey` (no site has this sitekey, or the URL's and the body's differ)",
    401: "`unauthorized`: a valid admin bearer token is required",
    403: "`origin_not_allowed` (the page's origin is not registered for the site; nothing is created or spent)",
    404: "`not_found`: no such challenge, or no such clip in its current round",
    409: "`challenge_closed`: the challenge is closed, or this round was already answered",
    410: "`challenge_expired`: start a new one",
    413: "`body_too_large`: request bodies are limited (INSIDEOUT_MAX_BODY_BYTES)",
    422: "`invalid_request` (a body that is not JSON, or of the wrong shape, with `problems` naming the fields) or "
         "`bad_answer` (the answers do not name each slot of the round)",
    429: "`rate_limited` (with `Retry-After`)",
    503: "`storage_unavailable` (the audio store is unreachable, or the data dir is full or read-only) or "
         "`no_clips`: try again shortly (with `Retry-After` where known)",
}


def refusals(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for these refusal statuses (JSON {"error", "message"}); `described` overrides a
    status's text, keyed as `s403="..."`."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {"model": ErrorOut, "description": described.get(f"s{status}", REFUSALS[status])}
    return out


POW_REFUSALS = ("proof of work required, malformed or wrong (`pow_required`, `pow_invalid`), expired "
                "(`pow_expired`), already spent (`pow_reused`), or easier than this client now needs "
                "(`pow_too_easy`): fetch a new puzzle from GET /api/v1/pow")
POW_JS = resources.files(__package__).joinpath("static/pow.js")


VERIFY_SCHEMA = {
    "type": "object",
    "required": ["secret", "response"],
    "properties": {
        "secret": {"type": "string", "description": "your site's secret (`insideout sites add`)"},
        "response": {"type": "string", "description": "the token from the widget's `insideout-response` field"},
        "token": {"type": "string", "description": "an alias of `response`"},
        "remoteip": {"type": "string", "description": "the visitor's address (accepted, not checked)"},
        "idempotency_key": {"type": "string", "description": "a retry with the same key and response gets the "
                                                             "same answer (1-128 of A-Z a-z 0-9 _ . : -)"},
    },
}
# OpenAPI links: how one operation's answer feeds the next (generated clients and stateful fuzzers follow them).
_ANSWER_REF = "#/paths/~1api~1v1~1challenges~1{challenge_id}~1answer/post"
CHALLENGE_LINKS = {
    "AudioOfTheFirstClip": {
        "operationRef": "#/paths/~1api~1v1~1challenges~1{challenge_id}~1audio~1{slot}/get",
        "parameters": {"challenge_id": "$response.body#/challenge_id", "slot": "$response.body#/clips/0/slot"},
        "description": "a clip of the round, by its slot"},
    "Answer": {"operationRef": _ANSWER_REF, "parameters": {"challenge_id": "$response.body#/challenge_id"},
               "description": "answer the round: one emotion per slot"},
}
ANSWER_LINKS = {
    "AnswerTheNextRound": {"operationRef": _ANSWER_REF, "parameters": {"challenge_id": "$request.path.challenge_id"},
                           "description": "the next round, when `status` is `retry`"},
    "Siteverify": {"operationRef": "#/paths/~1api~1v1~1siteverify/post",
                   "requestBody": {"response": "$response.body#/token"},
                   "description": "your server redeems the token, when `status` is `passed`"},
}
VERIFY_FIELDS = ("secret", "response", "token", "remoteip", "idempotency_key")


async def verify_fields(request: Request) -> dict[str, Any]:
    """siteverify's fields from a JSON object or a form; a field of the wrong type reads as missing."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "application/x-www-form-urlencoded" or kind == "multipart/form-data":
            data: Any = dict((await request.form()).items())
        else:
            data = await request.json()
    except Exception:  # noqa: BLE001 - any unreadable body is the caller's bad request
        raise ApiError(400, "bad_request", "send a JSON object or a form with secret and response") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "send a JSON object with secret and response")
    return {k: (data[k] if isinstance(data.get(k), str) else None) for k in VERIFY_FIELDS if k in data}


def error_json(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": code, "message": message},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _clips(view: RoundView) -> list[ClipRef]:
    return [
        ClipRef(slot=s, audio_url=f"{PREFIX}/challenges/{view.challenge_id}/audio/{s}")
        for s in view.slots
    ]


def build_router(services: Services) -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    settings = services.settings
    captcha = services.captcha

    def limit(request: Request, new_challenge: bool = False) -> str:
        client = client_of(request, settings)
        try:
            (services.rate_limits.new_challenge if new_challenge else services.rate_limits.request)(client)
        except RateLimited as e:
            message = "too many requests; slow down" if e.what == "requests" else f"too many {e.what}; try again later"
            raise ApiError(429, "rate_limited", message, {"Retry-After": e.retry_after_header}) from None
        return client

    def run(call, *args):
        try:
            return call(*args)
        except CoolingDown as e:
            raise ApiError(429, e.code, e.message, {"Retry-After": str(math.ceil(e.retry_after))}) from None
        except CaptchaError as e:
            raise ApiError(STATUS_OF.get(type(e), 400), e.code, e.message) from None
        except StoreUnavailable:
            log.warning("audio storage unavailable", exc_info=True)
            raise ApiError(503, "storage_unavailable", "audio storage is unreachable; try again shortly",
                           {"Retry-After": "5"}) from None

    @router.get("/health", tags=["service"], responses=refusals(429))
    def health() -> dict[str, str]:
        return {"status": "ok"}

    spent = proof.SpentPuzzles()

    def pow_required(client: str) -> int:
        return proof.required_difficulty(settings.pow_difficulty, services.rate_limits.recent_challenges(client))

    def checked_pow(request: Request, given: PowSolutionIn | None, difficulty: int | None = None) -> proof.Solution:
        """The solution, checked but not spent yet: a refusal counts as a request, never as a new challenge."""
        try:
            if given is None:
                raise proof.PowRefused("pow_required", "this server asks for proof of work before a new challenge: "
                                       "solve a puzzle from GET /api/v1/pow and send it as \"pow\"")
            solution = proof.parse_solution(given.model_dump())
            required = difficulty if difficulty is not None else pow_required(
                client_of(request, settings))
            proof.check(solution, settings.secret_key, required)
            if spent.is_spent(solution.puzzle):
                raise proof.PowRefused("pow_reused", "this puzzle was already spent: fetch a new one")
        except proof.PowRefused as e:
            limit(request)
            raise ApiError(403, e.code, e.message) from None
        return solution

    def site_for(request: Request, sitekey: str | None, query_key: str | None = None) -> Site:
        """The site a request is for, checked against the page's Origin before anything is spent; marks the
        reply for CORS when a browser page of the site asked."""
        if query_key is not None and query_key != (sitekey or BUILTIN_SITEKEY):
            raise ApiError(400, "invalid_sitekey", "the sitekey in the URL and in the body differ")
        site = services.sites.get(sitekey or BUILTIN_SITEKEY)
        if site is None:
            raise ApiError(400, "invalid_sitekey", "no site has this sitekey: register one with "
                                                   "`insideout sites add NAME --origin https://...`")
        allow_origin(request, lambda: site)
        return site

    def allow_origin(request: Request, site_of) -> None:
        origin = request.headers.get("origin")
        if origin is None:
            return  # not a browser page: CORS is the browser's rule, and scripts send no Origin
        peer = request.client.host if request.client else None
        if not origin_allowed(site_of(), origin, own_hosts(request.headers, peer, settings.trusted_proxies)):
            raise ApiError(403, "origin_not_allowed", "this page's origin is not registered for the site")
        cors_holder(request)["origin"] = origin

    @router.get("/pow", response_model=PuzzleOut, tags=["captcha"], responses=refusals(400, 403, 422, 429))
    def pow_puzzle(request: Request, response: Response,
                   purpose: str | None = Query(default=None, alias="for", pattern="^(challenge|alternative)$",
                                               description="`alternative`: a puzzle for the route for people who "
                                                           "cannot hear (POST /api/v1/alternative)"),
                   sitekey: str | None = Query(default=None, pattern=SITEKEY)) -> PuzzleOut:
        """A proof-of-work puzzle for this client, to solve before POST /challenges (difficulty 0 when off), or
        before POST /alternative (`?for=alternative`)."""
        if sitekey is not None or request.headers.get("origin"):
            site_for(request, sitekey)
        client = limit(request)
        response.headers["Cache-Control"] = "no-store"  # one puzzle per solve: a cached one would be spent
        difficulty = settings.alt_pow_difficulty if purpose == "alternative" else pow_required(client)
        return PuzzleOut(**proof.issue(settings.secret_key, difficulty).as_dict())

    @router.get("/pow.js", response_class=PlainTextResponse, tags=["captcha"],
                responses={200: {"content": {"text/javascript": {}}}, **refusals(429)})
    def pow_script(request: Request) -> Response:
        """The browser's solver (Web Crypto, no dependencies): `InsideOutPow.createChallenge(base)`."""
        limit(request)
        return Response(POW_JS.read_bytes(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=3600"})

    def spend(solution: proof.Solution) -> None:
        try:
            spent.spend(solution.puzzle)  # atomic: of two racing uses of one solution, one wins
        except proof.PowRefused as e:
            status = 503 if e.code == "pow_busy" else 403
            raise ApiError(status, e.code, e.message, {"Retry-After": "5"} if status == 503 else None) from None

    @router.post("/challenges", status_code=201, response_model=ChallengeOut, tags=["captcha"],
                 responses={201: {"links": CHALLENGE_LINKS}, **refusals(400, 403, 413, 422, 429, 503,
                                    s403="the page's origin is not the site's (`origin_not_allowed`; nothing is "
                                         "created), or " + POW_REFUSALS,
                                    s429="too many requests or new challenges (`rate_limited`), or this client "
                                         "failed too many rounds lately (`cooldown`); with `Retry-After`",
                                    s503="the play pool is too small (`no_clips`), too many puzzles are in flight "
                                         "(`pow_busy`), or the audio storage is unreachable")})
    def create_challenge(request: Request, body: ChallengeBody | None = None,
                         sitekey: str | None = Query(default=None, pattern=SITEKEY,
                                                     description="the body's sitekey again, for the preflight")
                         ) -> ChallengeOut:
        body = body or ChallengeBody()
        site = site_for(request, body.sitekey, sitekey)
        solution = checked_pow(request, body.pow) if settings.pow_difficulty > 0 else None
        client = limit(request, new_challenge=True)
        if solution is not None:
            spend(solution)
        if site.sitekey in TEST_SITEKEYS:
            view = testkeys.create(site.sitekey, time.time(), settings.challenge_ttl_s)
        else:
            policy = Policy(*site.policy) if site.policy else None
            view = run(lambda: captcha.create(client, site=site.sitekey, action=body.action, policy=policy,
                                              hostname=hostname_of(request.headers.get("origin"))))
        return ChallengeOut(
            challenge_id=view.challenge_id,
            expires_at=view.expires_at,
            round=view.round,
            max_rounds=view.max_rounds,
            emotions=list(EMOTION_IDS),
            clips=_clips(view),
            feedback=settings.feedback,
        )

    @router.post("/alternative", response_model=AlternativeOut, response_model_exclude_none=True,
                 tags=["captcha"],
                 responses=refusals(400, 403, 413, 422, 429, 503,
                                    s403="`origin_not_allowed`; `alternative_off` (the site does not offer this "
                                         "route); " + POW_REFUSALS,
                                    s503="too many puzzles are in flight (`pow_busy`)"))
    def alternative(request: Request, body: AlternativeBody,
                    sitekey: str | None = Query(default=None, pattern=SITEKEY)) -> AlternativeOut:
        """The route for people who cannot hear: a solved puzzle of the alternative's difficulty (GET
        /api/v1/pow?for=alternative) passes at once. Its token says `method` `pow` in siteverify: proof of work
        shows a cost paid, not a person, and the site decides what that is worth."""
        site = site_for(request, body.sitekey, sitekey)
        if not site.alternative:
            raise ApiError(403, "alternative_off", "this site does not offer the proof-of-work route")
        solution = checked_pow(request, body.pow, settings.alt_pow_difficulty)
        client = limit(request, new_challenge=True)
        spend(solution)
        if site.sitekey in TEST_SITEKEYS:
            passes = site.sitekey == TEST_SITEKEY_PASSES
            return AlternativeOut(status="passed" if passes else "failed",
                                  token=testkeys.TOKEN_PREFIX + secrets.token_urlsafe(24) if passes else None)
        token = captcha.pass_by_work(client, site=site.sitekey, action=body.action,
                                     hostname=hostname_of(request.headers.get("origin")))
        return AlternativeOut(status="passed", token=token)

    @router.get(
        "/challenges/{challenge_id}/audio/{slot}",
        response_class=Response,
        responses={200: {"content": {"audio/wav": {}}}, **refusals(403, 404, 409, 410, 422, 429, 503)},
        tags=["captcha"],
    )
    def challenge_audio(challenge_id: str, slot: str, request: Request) -> Response:
        allow_origin(request, lambda: challenge_site(services, challenge_id))
        limit(request)
        if testkeys.is_test_challenge(challenge_id):
            data = run(testkeys.audio, challenge_id, slot)
        else:
            data = run(captcha.audio, challenge_id, slot)
        return Response(data, media_type="audio/wav", headers={"Cache-Control": "no-store"})

    @router.post("/challenges/{challenge_id}/answer", response_model=AnswerOut,
                 response_model_exclude_none=True, tags=["captcha"],
                 responses={200: {"links": ANSWER_LINKS}, **refusals(403, 404, 409, 410, 413, 422, 429, 503)})
    def answer(challenge_id: str, body: AnswerBody, request: Request) -> AnswerOut:
        allow_origin(request, lambda: challenge_site(services, challenge_id))
        client = limit(request)
        if testkeys.is_test_challenge(challenge_id):
            result = run(testkeys.answer, challenge_id, body.answers)
        else:
            result = run(captcha.answer, challenge_id, body.answers, client)
        out = AnswerOut(status=result.status, round=result.round, token=result.token)
        if result.next_round is not None:
            out.clips = _clips(result.next_round)
            out.expires_at = result.next_round.expires_at
        return out

    @router.post("/siteverify", response_model=VerifyOut, tags=["captcha"],
                 responses=refusals(400, 413, 429, 503,
                                    s400="`bad_request`: the body is neither a JSON object nor a form",
                                    s503="`storage_unavailable`: the data dir is full or read-only (with "
                                         "`Retry-After`)"),
                 openapi_extra={"requestBody": {"required": True, "content": {
                     "application/json": {"schema": VERIFY_SCHEMA},
                     "application/x-www-form-urlencoded": {"schema": VERIFY_SCHEMA}}}})
    async def siteverify(request: Request) -> VerifyOut:
        """Your server redeems a visitor's token with your site's secret (never from a browser). Always 200:
        `success`, with `error_codes` when it is false. JSON or form-encoded, as Turnstile's."""
        limit(request)
        fields = await verify_fields(request)
        response, alias = fields.get("response"), fields.get("token")
        if response is not None and alias is not None and response != alias:
            return VerifyOut(success=False, error_codes=["bad-request"])
        verdict = services.verifier.siteverify(fields.get("secret"), response if response is not None else alias,
                                               fields.get("remoteip"), fields.get("idempotency_key"))
        return VerifyOut(**verdict.as_dict())

    @router.get("/admin/tallies", tags=["admin"],
                responses=refusals(401, 404, 429, s404="`admin_off`: INSIDEOUT_ADMIN_TOKEN is unset"))
    def admin_tallies(request: Request, authorization: str | None = Header(default=None)) -> Any:
        limit(request)
        if not settings.admin_token:
            raise ApiError(404, "admin_off", "the admin API is off (INSIDEOUT_ADMIN_TOKEN is unset)")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not same(settings.admin_token, given.strip()):
            raise ApiError(401, "unauthorized", "a valid admin bearer token is required",
                           {"WWW-Authenticate": "Bearer"})
        return {"rule": {"min_votes": services.consensus.rule.min_votes,
                         "min_share": services.consensus.rule.min_share,
                         "ambiguous_after": services.consensus.rule.ambiguous_after},
                "clips": services.consensus.tallies()}

    @router.api_route("/{rest:path}", methods=list(ANY_METHOD), include_in_schema=False)
    def unknown(request: Request, rest: str) -> None:
        # Keep every API path, whatever the method, from falling through to the Gradio app mounted at the root.
        allowed = sorted({m for route in router.routes if getattr(route, "endpoint", None) is not unknown
                          and route.path_regex.match(request.url.path) for m in route.methods})
        if allowed:
            raise ApiError(405, "method_not_allowed", f"this endpoint takes {', '.join(allowed)}",
                           {"Allow": ", ".join(allowed)})
        raise ApiError(404, "not_found", "no such API endpoint")

    return router


OTHER_METHOD = "(OTHER)"  # not a method token, so no client can send it: what SiteCors makes of unknown ones
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", OTHER_METHOD)
CORS_KEY = "insideout.cors"
# The captcha's browser routes and the methods they take; everything else under the API answers no CORS.
CORS_ROUTES = (
    (re.compile(rf"^{PREFIX}/challenges$"), "POST"),
    (re.compile(rf"^{PREFIX}/alternative$"), "POST"),
    (re.compile(rf"^{PREFIX}/pow$"), "GET"),
    (re.compile(rf"^{PREFIX}/challenges/([A-Za-z0-9_-]{{1,64}})/answer$"), "POST"),
    (re.compile(rf"^{PREFIX}/challenges/([A-Za-z0-9_-]{{1,64}})/audio/[A-Za-z0-9_-]{{1,16}}$"), "GET"),
)
PREFLIGHT_MAX_AGE_S = 600


def challenge_site(services: Services, challenge_id: str) -> Site | None:
    """The site a challenge was created for (a test key's for a test challenge); None for no such challenge."""
    if testkeys.is_test_challenge(challenge_id):
        return services.sites.get(TEST_SITEKEY_PASSES)
    found = services.captcha.site_of(challenge_id)
    return services.sites.get(found) if found else None


def cors_holder(request: Request) -> dict:
    """Where a handler leaves the Origin it accepted, for SiteCors to answer on the reply."""
    return request.scope.setdefault(CORS_KEY, {})


class SiteCors:
    """CORS for the captcha's browser routes: a reply carries Access-Control-Allow-Origin exactly when a handler
    accepted the page's Origin for the challenge's site (nothing else under the API carries it, whatever an
    inner layer added); a preflight is answered here, by the same rule, before any handler runs. A preflight
    without a site key in the URL is answered for an origin that some registered site lists."""

    def __init__(self, app, services: Services):
        self.app, self.services = app, services

    def preflight_allowed(self, path: str, query: str, origin: str, hosts: tuple[str, ...]) -> str | None:
        """The method a preflight may go on to, or None."""
        for pattern, method in CORS_ROUTES:
            match = pattern.match(path)
            if not match:
                continue
            sites = self.services.sites
            if match.groups():  # answer and audio: the challenge names its site
                candidates = [challenge_site(self.services, match.group(1))]
            else:
                keys = parse_qs(query).get("sitekey")
                candidates = [sites.get(keys[0])] if keys else sites.all()
            return method if any(origin_allowed(site, origin, hosts) for site in candidates) else None
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if not scope["path"].startswith(PREFIX):
            return await self.same_origin_only(scope, receive, send)
        if scope["method"] == "HEAD":
            # A HEAD is its GET without the body (the server drops it, knowing the request's own method).
            scope = {**scope, "method": "GET"}
        elif scope["method"] not in ANY_METHOD:
            # Any other token (QUERY, PROPFIND, a lowercase get) reaches the catch-all route: 405 with Allow, or 404.
            scope = {**scope, "method": OTHER_METHOD}
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        origin = headers.get("origin")
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            peer = scope["client"][0] if scope.get("client") else None
            hosts = own_hosts(headers, peer, self.services.settings.trusted_proxies)
            method = self.preflight_allowed(scope["path"], scope.get("query_string", b"").decode("latin-1"),
                                            origin, hosts)
            if method is None or headers["access-control-request-method"].upper() != method:
                return await error_json(403, "origin_not_allowed", "this origin or method is not allowed here",
                                        {"Vary": "Origin"})(scope, receive, send)
            return await Response(status_code=204, headers={
                "Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": method,
                "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
                "Vary": "Origin"})(scope, receive, send)
        holder = scope.setdefault(CORS_KEY, {})

        async def send_with_cors(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", [])
                        if not k.lower().startswith(b"access-control-") and k.lower() != b"vary"]
                kept.append((b"vary", b"Origin"))
                if holder.get("origin"):
                    kept.append((b"access-control-allow-origin", holder["origin"].encode("latin-1")))
                    kept.append((b"access-control-expose-headers", b"Retry-After"))  # the page's countdown
                message = {**message, "headers": kept}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def same_origin_only(self, scope, receive, send):
        """The Gradio app and the widget's files: no CORS at all (Gradio's own layer echoes any Origin, even
        `null`, with credentials), no preflight, and no uploads (the app has no upload component)."""
        if UPLOAD_PATH.match(scope["path"]):
            return await error_json(403, "uploads_off", "this app takes no file uploads")(scope, receive, send)
        if scope["method"] == "OPTIONS" and any(k == b"access-control-request-method" for k, _ in scope["headers"]):
            return await error_json(403, "origin_not_allowed", "cross-origin requests are not allowed here",
                                    {"Vary": "Origin"})(scope, receive, send)

        public = WIDGET_PATH.match(scope["path"]) is not None

        async def send_without_cors(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", [])
                        if not k.lower().startswith(b"access-control-")]
                if public:  # a public script, fetchable with <script crossorigin integrity=...>; no credentials
                    kept.append((b"access-control-allow-origin", b"*"))
                message = {**message, "headers": kept}
            await send(message)

        await self.app(scope, receive, send_without_cors)


UPLOAD_PATH = re.compile(r"^(/gradio_api)?/upload/?$")
WIDGET_PATH = re.compile(r"^/widget(/v[0-9]+)?\.js$")


class BodyLimit:
    """Refuse API request bodies over a size, by header and while streaming (chunked uploads)."""

    def __init__(self, app, max_bytes: int, prefix: str = PREFIX):
        self.app, self.max_bytes, self.prefix = app, max_bytes, prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return await self.app(scope, receive, send)
        too_big = error_json(413, "body_too_large", f"request bodies are limited to {self.max_bytes} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    return await error_json(400, "bad_request", "bad Content-Length")(scope, receive, send)
                if declared > self.max_bytes:
                    return await too_big(scope, receive, send)
        # API bodies are small: read the whole body first (stopping past the limit), then replay it.
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                return await too_big(scope, receive, send)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def install_widget(app: FastAPI) -> None:
    """GET /widget.js (cached briefly, revalidated by ETag) and GET /widget/v1.js (this version, cached long)."""

    def widget(request: Request, max_age: int) -> Response:
        try:
            data = WIDGET_JS.read_bytes()
        except FileNotFoundError:
            return error_json(404, "not_found", "the widget is not installed")
        etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
        headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": etag,
                   "X-Content-Type-Options": "nosniff", "Cross-Origin-Resource-Policy": "cross-origin"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="text/javascript; charset=utf-8", headers=headers)

    @app.get("/widget.js", include_in_schema=False)
    def widget_latest(request: Request) -> Response:
        return widget(request, 300)

    @app.get(f"/widget/v{WIDGET_VERSION}.js", include_in_schema=False)
    def widget_versioned(request: Request) -> Response:
        return widget(request, 86_400)


def install(app: FastAPI, services: Services) -> None:
    """Add the API, its error handling and its limits to a FastAPI app."""
    app.include_router(build_router(services))
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)
    app.add_middleware(SiteCors, services=services)  # added last: the outermost, it sees every reply
    install_widget(app)

    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError):
        return error_json(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError):
        # Name the fields at fault, never echo the input back.
        problems = [
            {"field": ".".join(str(p) for p in err.get("loc", ())[1:]) or "body",
             "problem": err.get("msg", "")}
            for err in exc.errors()
        ]
        return JSONResponse(
            {"error": "invalid_request", "message": "the request is not valid", "problems": problems},
            status_code=422,
            headers={"Cache-Control": "no-store"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException):
        if not request.url.path.startswith(PREFIX):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        if exc.status_code == 400:  # FastAPI's "error parsing the body": bytes that are not JSON text
            return error_json(422, "invalid_request", "the request body is not valid JSON")
        return error_json(exc.status_code, "http_error", str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception):
        problem = diagnose(exc)
        if problem is not None:  # a full or read-only data dir: the operator's to fix, the client's to retry
            log.error("%s %s: %s", request.method, request.url.path, problem.message)
            return error_json(503, "storage_unavailable", "the server cannot store data right now; try again later",
                              {"Retry-After": "30"})
        log.exception("unhandled error on %s", request.url.path)
        return error_json(500, "internal_error", "something went wrong on our side")
