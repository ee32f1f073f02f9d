"""The arena: attackers play real challenges through the public HTTP API, as any other program would.

An attacker sees exactly what a website's visitor gets: the round's slots, the served audio (re-encoded
and varied), the eight emotion ids, and the answer's status (`retry`, `passed`, `failed`). It never
touches the UI code or the database. When the server asks for proof of work before a new challenge, the arena
fetches the puzzle and solves it in Python on one core (insideout.pow.solve), as a bot must, and records the
CPU seconds it took. A client identity is the address a trusted proxy forwards
(X-Forwarded-For): a server on loopback that trusts 127.0.0.1 as its proxy lets one process play as many
clients, as a botnet or a pool of residential proxies would.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from .. import pow as proof

API = "/api/v1"
NO_CLIPS_WAIT_S = 0.25  # between tries while the play pool has no fresh clip
NO_CLIPS_PATIENCE_S = 600.0  # then the refusal stands
POW_REFETCH = frozenset({"pow_expired", "pow_too_easy", "pow_reused"})  # refusals a fresh puzzle cures


class ArenaError(RuntimeError):
    """The server refused to play (rate limited, no clips, a bad answer): the message says what and why."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:200]}")
        self.status = status


@dataclass(frozen=True)
class Round:
    """One round as served: the slots in the order given, their audio, and the emotion ids to choose from."""

    challenge_id: str
    number: int
    max_rounds: int
    slots: tuple[str, ...]
    audio: Mapping[str, bytes]
    emotions: tuple[str, ...]
    client: str


class Attacker(Protocol):
    """What plays: names an emotion per slot, and may learn from the outcome of each round."""

    name: str

    def answer(self, round: Round) -> dict[str, str]:
        """slot -> emotion id, for every slot of the round."""
        ...

    def learn(self, round: Round, answers: Mapping[str, str], status: str) -> None:
        """The outcome of a round: "passed", "retry" (the control was wrong, or not enough rounds passed
        yet) or "failed"."""
        ...


@dataclass(frozen=True)
class RoundPlayed:
    number: int
    slots: tuple[str, ...]
    answers: Mapping[str, str]
    status: str


@dataclass(frozen=True)
class Played:
    """One challenge played to its end."""

    attacker: str
    client: str
    challenge_id: str
    passed: bool
    rounds: tuple[RoundPlayed, ...] = field(default_factory=tuple)
    pow_s: float | None = None  # CPU seconds spent solving proof of work to open it; None: the server asked none


def _error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


class Arena:
    """Plays challenges against one server. `http` is any httpx.Client with the server as its base URL."""

    def __init__(self, http: httpx.Client):
        self.http = http
        self.pow_required = False  # learnt from the first refusal: then every challenge fetches a puzzle first
        self.no_clips_waits = 0  # tries refused because the play pool had no fresh clip (the evaluation reports it)

    @classmethod
    def at(cls, url: str, timeout: float = 30.0) -> Arena:
        return cls(httpx.Client(base_url=url.rstrip("/"), timeout=timeout))

    def _patiently(self, method: str, path: str, client: str, **kwargs) -> httpx.Response:
        """The request, tried again while the server says its play pool has no fresh clip (a serve budget
        with the restock behind: nothing changed on the server), as a patient bot would."""
        waited = 0.0
        while True:
            response = self.http.request(method, path, headers={"X-Forwarded-For": client}, **kwargs)
            if response.status_code != 503 or _error_code(response) != "no_clips" or waited >= NO_CLIPS_PATIENCE_S:
                return response
            time.sleep(NO_CLIPS_WAIT_S)
            waited += NO_CLIPS_WAIT_S
            self.no_clips_waits += 1

    def _call(self, method: str, path: str, client: str, **kwargs) -> httpx.Response:
        response = self._patiently(method, path, client, **kwargs)
        if response.status_code >= 400:
            raise ArenaError(response.status_code, response.text)
        return response

    def _round(self, body: dict, number: int, max_rounds: int, emotions: tuple[str, ...], client: str,
               challenge_id: str) -> Round:
        audio = {clip["slot"]: self._call("GET", clip["audio_url"], client).content for clip in body["clips"]}
        return Round(challenge_id, number, max_rounds, tuple(audio), audio, emotions, client)

    def _solved(self, client: str) -> tuple[dict[str, Any], float]:
        """A puzzle fetched as this client and solved here; the solution and the CPU seconds solving took."""
        data = self._call("GET", f"{API}/pow", client).json()
        puzzle = proof.Puzzle(data["salt"], data["difficulty"], data["expires_at"], data["signature"],
                              data.get("algorithm", proof.ALGORITHM))
        started = time.thread_time()  # CPU of this thread: the solver's own cost, whatever else the machine runs
        solution = proof.solve(puzzle)
        return solution.as_dict(), time.thread_time() - started

    def _create(self, client: str) -> tuple[dict[str, Any], float | None]:
        """A new challenge's body, and the seconds spent on proof of work for it (None when none was asked).
        A server that is not asking is sent `{}`, exactly as before; one that refuses with pow_required is
        asked for a puzzle from then on."""
        pow_s: float | None = None
        for _ in range(4):
            body: dict[str, Any] = {}
            if self.pow_required:
                body["pow"], spent = self._solved(client)
                pow_s = (pow_s or 0.0) + spent
            response = self._patiently("POST", f"{API}/challenges", client, json=body)
            code = _error_code(response) if response.status_code == 403 else None
            if code == "pow_required" and not self.pow_required:
                self.pow_required = True
                continue
            if code in POW_REFETCH and self.pow_required:
                continue
            if response.status_code >= 400:
                raise ArenaError(response.status_code, response.text)
            return response.json(), pow_s
        raise ArenaError(response.status_code, response.text)

    def play(self, attacker: Attacker, client: str = "198.51.100.1") -> Played:
        """One challenge from creation (with its proof of work, if the server asks) to passed or failed."""
        body, pow_s = self._create(client)
        challenge_id, max_rounds, emotions = body["challenge_id"], body["max_rounds"], tuple(body["emotions"])
        current = self._round(body, body["round"], max_rounds, emotions, client, challenge_id)
        played = []
        while True:
            answers = attacker.answer(current)
            result = self._call("POST", f"{API}/challenges/{challenge_id}/answer", client,
                                json={"answers": dict(answers)}).json()
            status = result["status"]
            attacker.learn(current, answers, status)
            played.append(RoundPlayed(current.number, current.slots, dict(answers), status))
            if status != "retry":
                return Played(attacker.name, client, challenge_id, status == "passed", tuple(played), pow_s)
            current = self._round(result, result["round"], max_rounds, emotions, client, challenge_id)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Arena:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
