"""Fixtures: one per real resource (a data dir with its SQLite file and audio folders, a stocked
library, a real server on loopback, moto's server on loopback for S3 and DynamoDB).

Both metadata backends: a module with `pytestmark = pytest.mark.usefixtures("backend")` runs each of its tests
on SQLite and again on DynamoDB (fresh tables on moto). The backend is named in the environment
(INSIDEOUT_METADATA and INSIDEOUT_DYNAMODB_*), where make_settings, and the app processes a test starts, read it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One math thread per worker: two workers on two cores with torch's and BLAS's two threads each spent a
    # seventh of the suite's time waiting on each other (measured on four heavy files: 200 s -> 174 s).
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
# numba's cache of a guvectorize function (librosa's peak picking) is two files written without a lock: two
# workers compiling it at once can leave an index pointing at the other's code, and from then on every process
# that loads it segfaults (numba/numba#10128; it felled a fresh-clone run here). Each test process keeps its own
# (set, not defaulted: a worker inherits the controller's environment).
os.environ["NUMBA_CACHE_DIR"] = (str(Path(__file__).resolve().parent.parent / ".pytest_cache" / "numba"
                                 / os.environ.get("PYTEST_XDIST_WORKER", "main")))

import boto3  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
import uvicorn  # noqa: E402
from botocore.config import Config  # noqa: E402

from insideout.emotions import EMOTION_IDS  # noqa: E402
from insideout.library import ClipInfo  # noqa: E402
from insideout.moto_server import AtomicMotoServer  # noqa: E402
from insideout.services import Services, build_services  # noqa: E402
from insideout.settings import Settings, setting_changes  # noqa: E402

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
    backend = backend_settings()
    if backend.get("metadata") == "dynamodb" and "dynamodb_table_prefix" not in changes:
        # A data dir of its own is a deployment of its own, as with SQLite: tables of its own.
        tag = hashlib.sha256(str(data_dir).encode()).hexdigest()[:8]
        backend["dynamodb_table_prefix"] = tables_for(f"{backend['dynamodb_table_prefix']}{tag}-",
                                                      backend["dynamodb_endpoint_url"])
    return replace(base, **{**backend, **changes})


_MADE: set[str] = set()  # table prefixes this process created


def tables_for(prefix: str, endpoint_url: str) -> str:
    """The DynamoDB tables of prefix, made when they are not yet."""
    from insideout.db.dynamo_client import Dynamo

    if prefix not in _MADE:
        Dynamo(prefix, endpoint_url, "us-east-1").create_tables()
        _MADE.add(prefix)
    return prefix


BACKEND_VARIABLES = ("INSIDEOUT_METADATA", "INSIDEOUT_DYNAMODB_TABLE_PREFIX", "INSIDEOUT_DYNAMODB_ENDPOINT_URL")


def backend_settings() -> dict[str, object]:
    """The metadata backend the running test asked for (the backend fixture), as Settings fields."""
    return setting_changes({k: os.environ[k] for k in BACKEND_VARIABLES if k in os.environ})


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoEndpoint:
    """moto's S3 and DynamoDB on 127.0.0.1:<port> (insideout.moto_server: DynamoDB atomic per request), which a
    test may stop and start again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: AtomicMotoServer | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> None:
        if self._server is None:
            server = AtomicMotoServer(ip_address="127.0.0.1", port=self.port)
            server.start()
            self._server = server

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.stop()
            server._server.server_close()  # stop() leaves the socket listening: close it, so connects fail

    def admin(self) -> boto3.client:
        """A client of our own for setting up and looking inside, outside the store under test."""
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing",
                            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))




@pytest.fixture(scope="session")
def moto() -> Iterator[MotoEndpoint]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    endpoint = MotoEndpoint()
    endpoint.start()
    yield endpoint
    endpoint.stop()


AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3's standard chain finds these credentials and nothing of the machine's own."""
    use_test_credentials(monkeypatch)


def use_test_credentials(env: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
        env.delenv(name, raising=False)
    for name, value in AWS_TEST_ENV.items():
        env.setenv(name, value)


def use_deployment(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Point the INSIDEOUT_* environment (what a command or an app process reads) at settings' data dir and,
    on DynamoDB, at its tables."""
    monkeypatch.setenv("INSIDEOUT_DATA_DIR", str(settings.data_dir))
    if settings.metadata == "dynamodb":
        monkeypatch.setenv("INSIDEOUT_DYNAMODB_TABLE_PREFIX", settings.dynamodb_table_prefix)


def another_deployment(settings: Settings, data_dir: Path, **changes) -> Settings:
    """Settings of a second deployment beside settings': its own data dir and, on DynamoDB, its own tables."""
    if settings.metadata == "dynamodb":
        changes["dynamodb_table_prefix"] = tables_for(f"t{uuid.uuid4().hex[:12]}-", settings.dynamodb_endpoint_url)
    return replace(settings, data_dir=data_dir, **changes)


# For a test of a module on both backends that looks at SQLite itself (its file, its rows): SQLite only.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.fixture(scope="module", params=["sqlite", "dynamodb"])
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The metadata backend this run of the module is on (a module runs whole on one, then on the other, so its
    module-scoped servers, which take this fixture, are built on it); on DynamoDB, fresh tables on moto."""
    with pytest.MonkeyPatch.context() as env:
        for name in BACKEND_VARIABLES:
            env.delenv(name, raising=False)
        if request.param == "dynamodb":
            on_dynamodb_tables(env, request)
        yield request.param


@pytest.fixture(scope="class")
def on_dynamodb(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test class on DynamoDB (a unittest-style class, which a parametrized fixture cannot reach)."""
    with pytest.MonkeyPatch.context() as env:
        on_dynamodb_tables(env, request)
        yield


def on_dynamodb_tables(env: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    endpoint = request.getfixturevalue("moto")
    endpoint.start()  # a test that stopped it and failed before starting it again
    use_test_credentials(env)
    env.setenv("INSIDEOUT_METADATA", "dynamodb")
    env.setenv("INSIDEOUT_DYNAMODB_TABLE_PREFIX", tables_for(f"t{uuid.uuid4().hex[:12]}-", endpoint.url))
    env.setenv("INSIDEOUT_DYNAMODB_ENDPOINT_URL", endpoint.url)


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
