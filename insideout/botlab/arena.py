"""The arena: attackers play real challenges through the public HTTP API, as any other program would.

An attacker sees exactly what a website's visitor gets: the round's slots, the served audio (re-encoded
and varied), the eight emotion ids, and the answer's status (`retry`, `passed`, `failed`). It never
touches the UI code or the database. A client identity is the address a trusted proxy forwards
(X-Forwarded-For): a server on loopback that trusts 127.0.0.1 as its proxy lets one process play as many
clients, as a botnet or a pool of residential proxies would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import httpx

API = "/api/v1"


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


class Arena:
    """Plays challenges against one server. `http` is any httpx.Client with the server as its base URL."""

    def __init__(self, http: httpx.Client):
        self.http = http

    @classmethod
    def at(cls, url: str, timeout: float = 30.0) -> Arena:
        return cls(httpx.Client(base_url=url.rstrip("/"), timeout=timeout))

    def _call(self, method: str, path: str, client: str, **kwargs) -> httpx.Response:
        response = self.http.request(method, path, headers={"X-Forwarded-For": client}, **kwargs)
        if response.status_code >= 400:
            raise ArenaError(response.status_code, response.text)
        return response

    def _round(self, body: dict, number: int, max_rounds: int, emotions: tuple[str, ...], client: str,
               challenge_id: str) -> Round:
        audio = {clip["slot"]: self._call("GET", clip["audio_url"], client).content for clip in body["clips"]}
        return Round(challenge_id, number, max_rounds, tuple(audio), audio, emotions, client)

    def play(self, attacker: Attacker, client: str = "198.51.100.1") -> Played:
        """One challenge from creation to passed or failed."""
        body = self._call("POST", f"{API}/challenges", client, json={}).json()
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
                return Played(attacker.name, client, challenge_id, status == "passed", tuple(played))
            current = self._round(result, result["round"], max_rounds, emotions, client, challenge_id)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Arena:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
