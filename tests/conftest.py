"""Fixtures: one per real resource (a data dir with its SQLite file and audio folders, a stocked
library, a real server on loopback)."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
import uvicorn  # noqa: E402

from insideout.emotions import EMOTION_IDS  # noqa: E402
from insideout.library import ClipInfo  # noqa: E402
from insideout.services import Services, build_services  # noqa: E402
from insideout.settings import Settings  # noqa: E402

SECRET = "test-secret-key-0123456789abcdefghijklmnop"
ADMIN_TOKEN = "admin-token-0123456789"


def tone(seed: int, seconds: float = 0.4, sr: int = 22050) -> np.ndarray:
    """A short distinct signal: two partials and a little noise, different for every seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f = 120 + 7 * (seed % 50)
    x = 0.4 * np.sin(2 * np.pi * f * t) + 0.2 * np.sin(2 * np.pi * 2.5 * f * t)
    return (x + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def wav_bytes(samples: np.ndarray, sr: int = 22050, subtype: str = "PCM_16") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format="WAV", subtype=subtype)
    return buf.getvalue()


def make_settings(data_dir: Path, **changes) -> Settings:
    # Fresh clips off: most tests play a handful of clips many times over; the tests of the serve budget and
    # the restock (test_restock.py, test_captcha.py, the bot lab's) turn them on. No network cap and no batch
    # refusal: tests vote from loopback, one network, each address once (test_vote_integrity.py turns them on).
    # No bot verdict: tests fail rounds from one address on purpose (test_sites.py turns it on).
    base = Settings(data_dir=data_dir, secret_key=SECRET, admin_token=ADMIN_TOKEN,
                    rate_limit_per_min=10_000, request_limit_per_min=100_000, serve_budget=0, play_pool_target=0,
                    votes_per_network=0, suspect_vote_share=1.0, fail_cooldown_s=0)
    return replace(base, **changes)


def stock(services: Services, play: int = 16, unverified: int = 4) -> dict[str, list[int]]:
    """Add play clips with labels cycling through the emotions, and unverified clips."""
    ids: dict[str, list[int]] = {"play": [], "unverified": []}
    for i in range(play):
        info = ClipInfo(source="test", label=EMOTION_IDS[i % 8], text=f"play {i}")
        ids["play"].append(services.library.add(tone(i), 22050, "play", info))
    for i in range(unverified):
        info = ClipInfo(source="test", intended_emotion=EMOTION_IDS[i % 8], text=f"unv {i}")
        ids["unverified"].append(services.library.add(tone(1000 + i), 22050, "unverified", info))
    return ids


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def services(settings: Settings) -> Services:
    return build_services(settings)


@pytest.fixture
def stocked(services: Services) -> Services:
    services.clip_ids = stock(services)
    return services


class LiveServer:
    def __init__(self, services: Services):
        from insideout.web import create_app
        from insideout.web.server import server_config

        self.services = services
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = server_config(create_app(services), services.settings, host="127.0.0.1", port=self.port,
                               timeout_graceful_shutdown=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


def serve(tmp_path: Path, play: int = 16, unverified: int = 4, **changes) -> LiveServer:
    services = build_services(make_settings(tmp_path / "data", **changes))
    services.clip_ids = stock(services, play, unverified)
    return LiveServer(services)


@pytest.fixture
def server(tmp_path: Path):
    with serve(tmp_path) as live:
        yield live


@pytest.fixture
def http(server: LiveServer):
    with server.client() as client:
        yield client
