"""The challenges of the public test site keys (insideout.sites): the normal shape, no audio worth hearing.

An integrator's CI renders the widget with TEST_SITEKEY_PASSES and any answer passes, or with
TEST_SITEKEY_FAILS and every answer fails; its server verifies with a test secret. Nothing is stored: a
test challenge's slots are derived from its id, its clips are short tones, and its tokens are not this
server's signed tokens, so they verify with the test secrets only.
"""

from __future__ import annotations

import hashlib
import secrets

import numpy as np

from . import wav
from .captcha import AnswerResult, BadAnswer, NotFound, RoundView
from .emotions import is_emotion
from .sites import TEST_SITEKEY_FAILS, TEST_SITEKEY_PASSES

PREFIXES = {TEST_SITEKEY_PASSES: "iotestp", TEST_SITEKEY_FAILS: "iotestf"}
TOKEN_PREFIX = "io_test_token."


def is_test_challenge(challenge_id: str) -> bool:
    return isinstance(challenge_id, str) and challenge_id[:7] in PREFIXES.values()


def _slots(challenge_id: str) -> tuple[str, str]:
    digest = hashlib.sha256(challenge_id.encode()).hexdigest()
    return digest[:8], digest[8:16]


def create(sitekey: str, now: float, ttl_s: float) -> RoundView:
    challenge_id = PREFIXES[sitekey] + secrets.token_urlsafe(18)
    return RoundView(challenge_id, now + ttl_s, 1, 1, _slots(challenge_id))


def audio(challenge_id: str, slot: str) -> bytes:
    if slot not in _slots(challenge_id):
        raise NotFound("no such clip in this round")
    t = np.arange(int(0.5 * wav.SAMPLE_RATE)) / wav.SAMPLE_RATE
    pitch = 330.0 if slot == _slots(challenge_id)[0] else 440.0
    return wav.encode(np.round(6000 * np.sin(2 * np.pi * pitch * t)).astype(np.int16))


def answer(challenge_id: str, answers: dict) -> AnswerResult:
    if not isinstance(answers, dict) or set(answers) != set(_slots(challenge_id)):
        raise BadAnswer("answer every slot of the round (2 slots)")
    if not all(is_emotion(v) for v in answers.values()):
        raise BadAnswer("unknown emotion")
    if challenge_id.startswith(PREFIXES[TEST_SITEKEY_PASSES]):
        return AnswerResult("passed", 1, token=TOKEN_PREFIX + secrets.token_urlsafe(24))
    return AnswerResult("failed", 1)
