"""The HTTP API (the README's table; /openapi.json): thin handlers that call the engine and translate its
refusals. With INSIDEOUT_POW_DIFFICULTY above 0, a new challenge needs a solved proof-of-work puzzle
(insideout.pow: the rules; GET /api/v1/pow.js: the browser's solver)."""

from __future__ import annotations

import hmac
import logging
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import pow as proof
from ..captcha import BadAnswer, CaptchaError, Closed, Expired, NoClips, NotFound, RoundView
from ..emotions import EMOTION_IDS
from ..ratelimit import RateLimited
from ..services import Services
from ..storage import StoreUnavailable
from .client import client_of

log = logging.getLogger("insideout.api")
PREFIX = "/api/v1"

STATUS_OF = {NotFound: 404, Closed: 409, Expired: 410, BadAnswer: 422, NoClips: 503}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        self.status, self.code, self.message, self.headers = status, code, message, headers


class PowSolutionIn(BaseModel):
    """A puzzle from GET /api/v1/pow, as it came, with the nonce that solves it."""

    model_config = ConfigDict(extra="forbid")
    algorithm: str = Field(default=proof.ALGORITHM, max_length=16, description=f"`{proof.ALGORITHM}`")
    salt: str = Field(max_length=64, description="the puzzle's salt (32 hex digits)")
    difficulty: int = Field(ge=0, le=256, strict=True, description="the puzzle's difficulty, as issued")
    expires_at: int = Field(ge=0, le=proof.MAX_EXPIRES_AT, strict=True, description="as issued")
    signature: str = Field(max_length=128, description="as issued")
    nonce: str = Field(max_length=64, description="1 to 16 lowercase hex digits: sha256(salt + nonce) starts "
                                                  "with `difficulty` zero bits")


class ChallengeBody(BaseModel):
    """`{}`; with proof of work on, `{"pow": {...}}`."""

    model_config = ConfigDict(extra="forbid")
    pow: PowSolutionIn | None = Field(default=None, description="a solved puzzle: required when the server asks "
                                                                "for proof of work (ignored when it does not)")


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answers: dict[str, str] = Field(description="slot -> emotion id, one entry per slot")


class VerifyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(max_length=1024)


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


class AnswerOut(BaseModel):
    status: str
    round: int
    clips: list[ClipRef] | None = None
    expires_at: float | None = None
    token: str | None = None


class VerifyOut(BaseModel):
    success: bool
    error_codes: list[str]


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


POW_REFUSALS = ("proof of work required, malformed or wrong (`pow_required`, `pow_invalid`), expired "
                "(`pow_expired`), already spent (`pow_reused`), or easier than this client now needs "
                "(`pow_too_easy`): fetch a new puzzle from GET /api/v1/pow")
POW_JS = resources.files(__package__).joinpath("static/pow.js")


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
        client = client_of(request, settings.trusted_proxies)
        try:
            (services.rate_limits.new_challenge if new_challenge else services.rate_limits.request)(client)
        except RateLimited as e:
            message = "too many requests; slow down" if e.what == "requests" else f"too many {e.what}; try again later"
            raise ApiError(429, "rate_limited", message, {"Retry-After": e.retry_after_header}) from None
        return client

    def run(call, *args):
        try:
            return call(*args)
        except CaptchaError as e:
            raise ApiError(STATUS_OF.get(type(e), 400), e.code, e.message) from None
        except StoreUnavailable:
            log.warning("audio storage unavailable", exc_info=True)
            raise ApiError(503, "storage_unavailable", "audio storage is unreachable; try again shortly",
                           {"Retry-After": "5"}) from None

    @router.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    spent = proof.SpentPuzzles()

    def pow_required(client: str) -> int:
        return proof.required_difficulty(settings.pow_difficulty, services.rate_limits.recent_challenges(client))

    def checked_pow(request: Request, given: PowSolutionIn | None) -> proof.Solution:
        """The solution, checked but not spent yet: a refusal counts as a request, never as a new challenge."""
        try:
            if given is None:
                raise proof.PowRefused("pow_required", "this server asks for proof of work before a new challenge: "
                                       "solve a puzzle from GET /api/v1/pow and send it as \"pow\"")
            solution = proof.parse_solution(given.model_dump())
            proof.check(solution, settings.secret_key, pow_required(client_of(request, settings.trusted_proxies)))
            if spent.is_spent(solution.puzzle):
                raise proof.PowRefused("pow_reused", "this puzzle was already spent: fetch a new one")
        except proof.PowRefused as e:
            limit(request)
            raise ApiError(403, e.code, e.message) from None
        return solution

    @router.get("/pow", response_model=PuzzleOut, tags=["captcha"])
    def pow_puzzle(request: Request, response: Response) -> PuzzleOut:
        """A proof-of-work puzzle for this client, to solve before POST /challenges (difficulty 0 when off)."""
        client = limit(request)
        response.headers["Cache-Control"] = "no-store"  # one puzzle per solve: a cached one would be spent
        return PuzzleOut(**proof.issue(settings.secret_key, pow_required(client)).as_dict())

    @router.get("/pow.js", response_class=PlainTextResponse, tags=["captcha"],
                responses={200: {"content": {"text/javascript": {}}}})
    def pow_script(request: Request) -> Response:
        """The browser's solver (Web Crypto, no dependencies): `InsideOutPow.createChallenge(base)`."""
        limit(request)
        return Response(POW_JS.read_bytes(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=3600"})

    @router.post("/challenges", status_code=201, response_model=ChallengeOut, tags=["captcha"],
                 responses={403: {"model": ErrorOut, "description": POW_REFUSALS},
                            429: {"model": ErrorOut, "description": "too many requests or new challenges"},
                            503: {"model": ErrorOut, "description": "the play pool is too small, or too many "
                                                                    "puzzles are in flight (`pow_busy`)"}})
    def create_challenge(request: Request, body: ChallengeBody | None = None) -> ChallengeOut:
        solution = checked_pow(request, body.pow if body else None) if settings.pow_difficulty > 0 else None
        client = limit(request, new_challenge=True)
        if solution is not None:
            try:
                spent.spend(solution.puzzle)  # atomic: of two racing uses of one solution, one wins
            except proof.PowRefused as e:
                status = 503 if e.code == "pow_busy" else 403
                raise ApiError(status, e.code, e.message, {"Retry-After": "5"} if status == 503 else None) from None
        view = run(captcha.create, client)
        return ChallengeOut(
            challenge_id=view.challenge_id,
            expires_at=view.expires_at,
            round=view.round,
            max_rounds=view.max_rounds,
            emotions=list(EMOTION_IDS),
            clips=_clips(view),
        )

    @router.get(
        "/challenges/{challenge_id}/audio/{slot}",
        response_class=Response,
        responses={200: {"content": {"audio/wav": {}}}},
        tags=["captcha"],
    )
    def challenge_audio(challenge_id: str, slot: str, request: Request) -> Response:
        limit(request)
        data = run(captcha.audio, challenge_id, slot)
        return Response(data, media_type="audio/wav", headers={"Cache-Control": "no-store"})

    @router.post("/challenges/{challenge_id}/answer", response_model=AnswerOut,
                 response_model_exclude_none=True, tags=["captcha"])
    def answer(challenge_id: str, body: AnswerBody, request: Request) -> AnswerOut:
        client = limit(request)
        result = run(captcha.answer, challenge_id, body.answers, client)
        out = AnswerOut(status=result.status, round=result.round, token=result.token)
        if result.next_round is not None:
            out.clips = _clips(result.next_round)
            out.expires_at = result.next_round.expires_at
        return out

    @router.post("/siteverify", response_model=VerifyOut, tags=["captcha"])
    def siteverify(body: VerifyBody, request: Request) -> VerifyOut:
        limit(request)
        success, codes = captcha.verify_token(body.token)
        return VerifyOut(success=success, error_codes=codes)

    @router.get("/admin/tallies", tags=["admin"])
    def admin_tallies(request: Request, authorization: str | None = Header(default=None)) -> Any:
        limit(request)
        if not settings.admin_token:
            raise ApiError(404, "admin_off", "the admin API is off (INSIDEOUT_ADMIN_TOKEN is unset)")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), settings.admin_token.encode()
        ):
            raise ApiError(401, "unauthorized", "a valid admin bearer token is required",
                           {"WWW-Authenticate": "Bearer"})
        return {"rule": {"min_votes": services.consensus.rule.min_votes,
                         "min_share": services.consensus.rule.min_share,
                         "ambiguous_after": services.consensus.rule.ambiguous_after},
                "clips": services.consensus.tallies()}

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                      include_in_schema=False)
    def unknown(rest: str) -> None:
        # Keep unknown API paths from falling through to the Gradio app mounted at the root.
        raise ApiError(404, "not_found", "no such API endpoint")

    return router


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


def install(app: FastAPI, services: Services) -> None:
    """Add the API, its error handling and its limits to a FastAPI app."""
    app.include_router(build_router(services))
    app.add_middleware(BodyLimit, max_bytes=services.settings.max_body_bytes)

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
        return error_json(exc.status_code, "http_error", str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def on_crash(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return error_json(500, "internal_error", "something went wrong on our side")
