"""Audio storage: the pools as places, and file names that carry nothing.

A store only keeps bytes under (pool, name). Which pool a clip belongs to is decided in the database
(library.py); the store is told to copy and delete, never to "move", so that a move can be driven
step by step from a state recorded in the database and resumed after a crash.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from .db import POOLS
from .private import private_dir
from .settings import S3Settings

_NAME = re.compile(r"^[0-9a-f]{32}$")


class StoreError(Exception):
    pass


class AudioMissing(StoreError):
    pass


class StoreUnavailable(StoreError):
    """The store did not answer (network down, outage, throttling) even after retries. Nothing is lost:
    a move stays recorded in the database and the next run (Library.repair) finishes it."""


def new_audio_name() -> str:
    """A random name: 128 bits, nothing derived from the clip."""
    return secrets.token_hex(16)


def check_key(pool: str, name: str) -> None:
    if pool not in POOLS:
        raise StoreError(f"unknown pool {pool!r}; expected one of {', '.join(POOLS)}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise StoreError("bad audio name")


class AudioStore(Protocol):
    """What the library needs from a place that keeps audio. LocalStore and S3Store."""

    def put(self, pool: str, name: str, data: bytes) -> None: ...

    def get(self, pool: str, name: str) -> bytes: ...

    def exists(self, pool: str, name: str) -> bool: ...

    def size(self, pool: str, name: str) -> int: ...

    def copy(self, src_pool: str, dst_pool: str, name: str) -> None: ...

    def delete(self, pool: str, name: str) -> None: ...

    def names(self, pool: str) -> Iterator[str]: ...

    def listing(self, pool: str) -> Iterator[tuple[str, float]]:
        """(name, last-modified Unix time) of the pool's audio: the repair's grace period reads the ages."""
        ...


class LocalStore:
    """Pools as folders under one root: root/<pool>/<name>.wav."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        for pool in POOLS:
            private_dir(self.root / pool)
        private_dir(self.root)

    def _path(self, pool: str, name: str) -> Path:
        check_key(pool, name)
        return self.root / pool / f"{name}.wav"

    def put(self, pool: str, name: str, data: bytes) -> None:
        self._write_atomic(self._path(pool, name), data)

    def get(self, pool: str, name: str) -> bytes:
        try:
            return self._path(pool, name).read_bytes()
        except FileNotFoundError:
            raise AudioMissing(f"no audio {name} in {pool}") from None

    def exists(self, pool: str, name: str) -> bool:
        return self._path(pool, name).is_file()

    def size(self, pool: str, name: str) -> int:
        try:
            return self._path(pool, name).stat().st_size
        except FileNotFoundError:
            raise AudioMissing(f"no audio {name} in {pool}") from None

    def copy(self, src_pool: str, dst_pool: str, name: str) -> None:
        src, dst = self._path(src_pool, name), self._path(dst_pool, name)
        if src == dst:
            return
        try:
            # A hard link is an instant, atomic copy on one file system; os.replace keeps it atomic
            # when a partial earlier attempt left the destination behind.
            tmp = dst.with_name(f".{name}.{secrets.token_hex(4)}.tmp")
            os.link(src, tmp)
            os.replace(tmp, dst)
        except FileNotFoundError:
            raise AudioMissing(f"no audio {name} in {src_pool}") from None
        except OSError:
            self._write_atomic(dst, self.get(src_pool, name))

    def delete(self, pool: str, name: str) -> None:
        self._path(pool, name).unlink(missing_ok=True)

    def names(self, pool: str) -> Iterator[str]:
        if pool not in POOLS:
            raise StoreError(f"unknown pool {pool!r}")
        for path in (self.root / pool).glob("*.wav"):
            if _NAME.match(path.stem):
                yield path.stem

    def listing(self, pool: str) -> Iterator[tuple[str, float]]:
        for name in self.names(pool):
            try:
                yield name, self._path(pool, name).stat().st_mtime
            except FileNotFoundError:
                continue  # deleted since it was listed

    def remove_partial_writes(self, older_than_s: float = 0.0) -> int:
        """Delete temp files left by writes a crash interrupted; younger ones may be another process's
        write in progress (an import beside the server)."""
        removed = 0
        now = time.time()
        for pool in POOLS:
            for path in (self.root / pool).glob(".*.tmp"):
                try:
                    if now - path.stat().st_mtime < older_than_s:
                        continue
                except FileNotFoundError:
                    continue
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    @staticmethod
    def _write_atomic(path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


_S3_KEY_TAIL = re.compile(r"^([0-9a-f]{32})\.wav$")
_S3_BUSY = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "ServiceUnavailable",
            "InternalError", "RequestLimitExceeded", "TooManyRequests"}


class S3Store:
    """Pools in S3 (AWS, or an S3 API such as Hugging Face Storage Buckets): <prefix><name>.wav in the
    pool's bucket, the three pools as three buckets or as prefixes of one.

    An object carries nothing but the audio: no user metadata, no content type, no ACL (the bucket's
    private default holds), and the store makes no URLs: audio reaches clients only through the
    challenge API. Transient errors are retried by botocore (standard or adaptive mode, with backoff);
    what still fails raises StoreUnavailable, anything a person must fix raises StoreError saying what.
    """

    def __init__(self, settings: S3Settings, session: Any = None):
        import boto3  # here, not at the top: a run on local storage never spends the time importing it
        from botocore.config import Config

        self.settings = settings
        self.where = settings.endpoint_url or f"AWS S3 ({settings.region or 'default region'})"
        session = session if session is not None else boto3.session.Session()
        self.client = session.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            config=Config(
                retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
                connect_timeout=settings.timeout_s,
                read_timeout=settings.timeout_s,
                max_pool_connections=32,  # the web server reads audio from many threads at once
                s3={"addressing_style": settings.addressing_style},
                request_checksum_calculation=settings.checksum_mode,
                response_checksum_validation=settings.checksum_mode,
            ),
        )
        self._copy_on_server = True  # turned off if the S3 API has no CopyObject

    def _object(self, pool: str, name: str) -> tuple[str, str]:
        check_key(pool, name)
        loc = self.settings.location(pool)
        return loc.bucket, f"{loc.prefix}{name}.wav"

    # -- the AudioStore protocol ---------------------------------------------------------------

    def put(self, pool: str, name: str, data: bytes) -> None:
        bucket, key = self._object(pool, name)
        with self._errors("write", pool, name):
            self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def get(self, pool: str, name: str) -> bytes:
        from botocore.exceptions import HTTPClientError, IncompleteReadError

        bucket, key = self._object(pool, name)
        for attempt in range(self.settings.max_attempts):
            with self._errors("read", pool, name):
                answer = self.client.get_object(Bucket=bucket, Key=key)
            try:
                return answer["Body"].read()  # checks the length against Content-Length
            except (HTTPClientError, IncompleteReadError) as e:
                # botocore retries a request, not a body that broke off midway: read it again.
                broken = e
                time.sleep(random.uniform(0, min(2.0, 0.1 * 2**attempt)))
        raise StoreUnavailable(
            f"reading audio {name} of pool {pool} from {self.where} broke off "
            f"{self.settings.max_attempts} times (last: {broken})"
        )

    def exists(self, pool: str, name: str) -> bool:
        try:
            self.size(pool, name)
        except AudioMissing:
            return False
        return True

    def size(self, pool: str, name: str) -> int:
        bucket, key = self._object(pool, name)
        with self._errors("read", pool, name):
            return int(self.client.head_object(Bucket=bucket, Key=key)["ContentLength"])

    def copy(self, src_pool: str, dst_pool: str, name: str) -> None:
        src, dst = self._object(src_pool, name), self._object(dst_pool, name)
        if src == dst:
            return
        if self._copy_on_server and self._server_copy(src, dst, src_pool, name):
            return
        self.put(dst_pool, name, self.get(src_pool, name))

    def _server_copy(self, src: tuple[str, str], dst: tuple[str, str], src_pool: str, name: str) -> bool:
        """CopyObject: the bytes stay in S3. False when this S3 API does not implement it."""
        from botocore.exceptions import ClientError

        with self._errors("copy", src_pool, name):
            try:
                self.client.copy_object(Bucket=dst[0], Key=dst[1], CopySource={"Bucket": src[0], "Key": src[1]})
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") != "NotImplemented" and _status(e) != 501:
                    raise
                self._copy_on_server = False
                return False
        return True

    def delete(self, pool: str, name: str) -> None:
        bucket, key = self._object(pool, name)
        with self._errors("delete", pool, name):
            self.client.delete_object(Bucket=bucket, Key=key)  # no error when it is already gone

    def names(self, pool: str) -> Iterator[str]:
        for name, _ in self.listing(pool):
            yield name

    def listing(self, pool: str) -> Iterator[tuple[str, float]]:
        if pool not in POOLS:
            raise StoreError(f"unknown pool {pool!r}")
        loc = self.settings.location(pool)
        with self._errors("list", pool):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=loc.bucket, Prefix=loc.prefix):
                for item in page.get("Contents", []):
                    # Only <prefix><name>.wav exactly: keys of other pools or other programs are not ours.
                    match = _S3_KEY_TAIL.match(item["Key"][len(loc.prefix):])
                    if match:
                        yield match.group(1), item["LastModified"].timestamp()

    # -- at start ------------------------------------------------------------------------------

    def check(self) -> None:
        """Fail now, clearly, rather than at the first clip: each pool's bucket exists, the credentials
        are accepted, and they may list, write and delete under the pool's prefix."""
        for loc in self.settings.locations:
            with self._errors("list", loc.pool):
                self.client.list_objects_v2(Bucket=loc.bucket, Prefix=loc.prefix, MaxKeys=1)
            # A name that names() never yields, so a crash between these two calls leaves nothing we use.
            probe = f"{loc.prefix}.insideout-write-check-{secrets.token_hex(8)}"
            with self._errors("write", loc.pool):
                self.client.put_object(Bucket=loc.bucket, Key=probe, Body=b"")
            with self._errors("delete", loc.pool):
                self.client.delete_object(Bucket=loc.bucket, Key=probe)

    def describe(self) -> str:
        places = ", ".join(f"{loc.pool}: s3://{loc.bucket}/{loc.prefix}" for loc in self.settings.locations)
        return f"{self.where} ({places})"

    # -- errors a person can act on --------------------------------------------------------------

    @contextmanager
    def _errors(self, action: str, pool: str, name: str | None = None) -> Iterator[None]:
        from botocore.exceptions import (
            ClientError,
            ConnectionError,
            CredentialRetrievalError,
            HTTPClientError,
            IncompleteReadError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        bucket = self.settings.location(pool).bucket
        try:
            yield
        except ClientError as e:
            raise self._client_error(e, action, pool, bucket, name) from e
        except (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError) as e:
            raise StoreError(
                f"no usable S3 credentials ({e}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(for Hugging Face: the HFAK... key pair generated from a write token), or AWS_PROFILE"
            ) from e
        except (ConnectionError, HTTPClientError, IncompleteReadError) as e:
            raise StoreUnavailable(
                f"S3 at {self.where} did not answer ({action} in bucket {bucket!r}, "
                f"{self.settings.max_attempts} attempts): {e}"
            ) from e

    def _client_error(self, e: Any, action: str, pool: str, bucket: str, name: str | None) -> StoreError:
        error = e.response.get("Error", {})
        code, message = str(error.get("Code", "")), error.get("Message", "")
        if name is not None and code in ("NoSuchKey", "404", "NotFound"):
            return AudioMissing(f"no audio {name} in {pool}")
        if code == "NoSuchBucket" or code in ("404", "NotFound"):
            return StoreError(
                f"bucket {bucket!r} (pool {pool}) does not exist at {self.where}: create it (private), "
                f"or correct {self._bucket_setting(pool)}"
            )
        if code == "InvalidAccessKeyId":
            return StoreError(
                f"{self.where} does not know the access key id in use: check AWS_ACCESS_KEY_ID "
                "(and INSIDEOUT_S3_ENDPOINT_URL: keys of one service do not work at another)"
            )
        if code == "SignatureDoesNotMatch":
            return StoreError(
                f"{self.where} rejected the request signature: the secret key does not belong to the access "
                "key; check AWS_SECRET_ACCESS_KEY (and INSIDEOUT_S3_REGION)"
            )
        if code in ("AccessDenied", "403", "Forbidden", "AllAccessDisabled"):
            return StoreError(
                f"access denied to {action} in bucket {bucket!r} (pool {pool}): the credentials need "
                "s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject there (a Hugging Face token "
                "needs write access)"
            )
        if code in ("ExpiredToken", "TokenRefreshRequired", "RequestTimeTooSkewed"):
            return StoreError(f"{self.where} refused the credentials: {code}: {message} (renew them, or fix the clock)")
        if code in _S3_BUSY or (_status(e) or 0) >= 500:
            return StoreUnavailable(
                f"S3 at {self.where} kept failing ({action} in bucket {bucket!r}, "
                f"{self.settings.max_attempts} attempts): {code} {message}"
            )
        return StoreError(f"S3 {action} in bucket {bucket!r} (pool {pool}) failed: {code} {message}")

    def _bucket_setting(self, pool: str) -> str:
        if len({loc.bucket for loc in self.settings.locations}) == 1:
            return "INSIDEOUT_S3_BUCKET"
        return f"INSIDEOUT_S3_BUCKET_{pool.upper()} (or INSIDEOUT_S3_BUCKET)"


def _status(e: Any) -> int | None:
    return e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
