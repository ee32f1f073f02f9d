"""S3 for the tests: moto's server on loopback as a real HTTP endpoint, and stores built on it.

The server runs in this process (ThreadedMotoServer) and keeps its buckets in moto's in-process
backends, not in the HTTP server: stopping the server makes the endpoint refuse connections (a real
outage for the client) while the buckets survive, and a server started again on the same port serves
them again, as S3 does after an outage. Each test makes buckets of its own, with random names.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from insideout.pools import POOLS
from insideout.services import Services, build_services
from insideout.settings import S3Location, S3Settings
from insideout.storage import AudioStore, LocalStore, S3Store
from tests import conftest
from tests.conftest import MotoEndpoint, free_port, make_settings, stock  # noqa: F401 - free_port: re-exported

moto, aws_env = conftest.moto, conftest.aws_env  # the fixtures, for modules that take them from here

STORE_KINDS = ("local", "s3-prefixes", "s3-buckets")


class CuttingProxy:
    """A TCP relay in front of the server that can drop a connection midway through an answer, as a
    network does: cut_next(n) lets the next connection's answer through for n bytes, then closes it."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.cuts = 0
        self._cut_after: int | None = None
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_next(self, after_bytes: int) -> None:
        self._cut_after = after_bytes

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            limit, self._cut_after = self._cut_after, None
            threading.Thread(target=self._relay, args=(client, limit), daemon=True).start()

    def _relay(self, client: socket.socket, limit: int | None) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        threading.Thread(target=_pump, args=(client, upstream, None), daemon=True).start()
        if _pump(upstream, client, limit):
            self.cuts += 1
        for s in (client, upstream):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)  # wakes the other direction's recv
            s.close()


def _pump(src: socket.socket, dst: socket.socket, limit: int | None) -> bool:
    """Copy src to dst until src ends, or until limit bytes went through; True when cut at the limit."""
    sent = 0
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                dst.shutdown(socket.SHUT_WR)
                return False
            if limit is not None and sent + len(chunk) >= limit:
                dst.sendall(chunk[: limit - sent])
                return True
            dst.sendall(chunk)
            sent += len(chunk)
    except OSError:
        return False


@pytest.fixture
def s3(moto: MotoEndpoint, aws_env: None) -> Iterator[MotoEndpoint]:
    """The endpoint, running, with test credentials in the environment."""
    moto.start()  # a test that stopped it and failed before starting it again
    yield moto
    moto.start()


def new_bucket(moto: MotoEndpoint) -> str:
    name = f"insideout-{uuid.uuid4().hex[:16]}"
    moto.admin().create_bucket(Bucket=name)
    return name


def s3_settings(moto: MotoEndpoint, layout: str = "s3-prefixes", **changes) -> S3Settings:
    """Fresh buckets: one with a prefix per pool, or one per pool. Few quick retries: tests see outages."""
    if layout == "s3-buckets":
        locations = tuple(S3Location(pool, new_bucket(moto), "") for pool in POOLS)
    else:
        bucket = new_bucket(moto)
        locations = tuple(S3Location(pool, bucket, f"lib/{pool}/") for pool in POOLS)
    base = S3Settings(locations=locations, endpoint_url=moto.url, region="us-east-1", addressing_style="path",
                      checksum_mode="when_required", max_attempts=2, timeout_s=2.0)
    return replace(base, **changes)


def make_store(kind: str, tmp_path: Path, moto: MotoEndpoint) -> AudioStore:
    if kind == "local":
        return LocalStore(tmp_path / "audio")
    store = S3Store(s3_settings(moto, kind))
    store.check()
    return store


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path, s3: MotoEndpoint) -> AudioStore:
    return make_store(request.param, tmp_path, s3)


def s3_services(tmp_path: Path, moto: MotoEndpoint, layout: str = "s3-prefixes", **s3_changes) -> Services:
    settings = make_settings(tmp_path / "data", storage="s3", s3=s3_settings(moto, layout, **s3_changes))
    return build_services(settings)


@pytest.fixture(params=["local", "s3"])
def any_stocked(request: pytest.FixtureRequest, tmp_path: Path, s3: MotoEndpoint) -> Services:
    """A stocked library (16 play clips, 4 unverified) on the local store, then on S3."""
    if request.param == "local":
        services = build_services(make_settings(tmp_path / "data"))
    else:
        services = s3_services(tmp_path, s3)
    services.clip_ids = stock(services)
    return services


@pytest.fixture
def stocked_s3(tmp_path: Path, s3: MotoEndpoint) -> Services:
    services = s3_services(tmp_path, s3)
    services.clip_ids = stock(services)
    return services


def stop_after(store: S3Store, operation: str, moto: MotoEndpoint, calls: int = 1) -> None:
    """Stop the server right after the store's `calls`-th `operation` (e.g. 'CopyObject') got its answer:
    the outage begins between two steps of whatever the store was doing."""
    seen = 0

    def hook(**_: object) -> None:
        nonlocal seen
        seen += 1
        if seen == calls:
            moto.stop()

    store.client.meta.events.register(f"after-call.s3.{operation}", hook)


def audio_everywhere(services: Services) -> dict[str, set[str]]:
    return {pool: set(services.store.names(pool)) for pool in POOLS}
