"""Settings: one dataclass, read from the INSIDEOUT_* environment variables and validated at start."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

PREFIX = "INSIDEOUT_"
POOL_NAMES = ("play", "unverified", "learning")  # the pools of db.POOLS (config imports nothing of ours)


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what it accepts."""


@dataclass(frozen=True)
class S3Location:
    """Where one pool's audio lives: keys are <prefix><random name>.wav in bucket."""

    pool: str
    bucket: str
    prefix: str


@dataclass(frozen=True)
class S3Settings:
    """The S3 store (INSIDEOUT_S3_*). Credentials are not here: boto3's own chain finds them
    (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role)."""

    locations: tuple[S3Location, ...]
    endpoint_url: str | None = None  # None: AWS
    region: str | None = None  # None: boto3's chain (AWS_REGION, AWS_DEFAULT_REGION, config file)
    addressing_style: str = "auto"  # path | virtual | auto
    checksum_mode: str = "when_supported"  # when_supported | when_required
    retry_mode: str = "standard"  # standard | adaptive
    max_attempts: int = 5  # per request, the first try included
    timeout_s: float = 10.0  # connect and read timeouts of one try

    def location(self, pool: str) -> S3Location:
        for loc in self.locations:
            if loc.pool == pool:
                return loc
        raise KeyError(pool)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = 7860
    starter_library: bool = True
    secret_key: str = ""  # filled from the data dir by load_settings() when not given
    admin_token: str | None = None
    admin_password: str | None = None
    rate_limit_per_min: int = 20
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    storage: str = "local"
    s3: S3Settings | None = None  # set when INSIDEOUT_STORAGE=s3, or when INSIDEOUT_S3_* name a bucket
    # The challenge policy (the original project's: up to 3 rounds, 1 passed round passes).
    rounds_to_pass: int = 1
    max_rounds: int = 3
    challenge_ttl_s: int = 300
    token_ttl_s: int = 120
    # The consensus rule.
    consensus_min_votes: int = 10
    consensus_min_share: float = 0.6
    ambiguous_after_votes: int = 30
    # Requests other than new challenges, per client per minute (audio, answers, siteverify).
    request_limit_per_min: int = 600
    max_body_bytes: int = 16 * 1024
    # Speech synthesis: the acoustic model (a path or URL; empty: the shipped default) and the vocoder
    # ("universal", "LJSpeech" or a HiFi-GAN checkpoint path).
    tts_checkpoint: str = ""
    vocoder: str = "universal"
    # Retraining: a fine-tune starts when the learning pool holds this many clips; a finished one moves
    # its clips to play with their consensus label ("move") or deletes them ("delete").
    retrain_threshold: int = 50
    consume_learning: str = "move"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "insideout.db"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"


def _number(env: Mapping[str, str], name: str, default, lo, hi, kind: type, kind_name: str):
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw.strip())
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}={raw!r}: expected {kind_name}") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{PREFIX}{name}={value}: expected a number from {lo} to {hi}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    return _number(env, name, default, lo, hi, int, "a whole number")


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    return _number(env, name, default, lo, hi, float, "a number")


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{PREFIX}{name}={raw!r}: expected 1 or 0")


def _networks(env: Mapping[str, str], name: str) -> tuple:
    raw = env.get(PREFIX + name, "")
    networks = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(
                f"{PREFIX}{name}: {part!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def _optional_text(env: Mapping[str, str], name: str, min_length: int) -> str | None:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return None
    if len(raw) < min_length:
        raise SettingsError(f"{PREFIX}{name}: too short, use at least {min_length} characters")
    return raw


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate the settings; raises SettingsError with a message a person can act on."""
    env = os.environ if env is None else env
    default_host = "0.0.0.0" if env.get("SPACE_ID") else "127.0.0.1"
    storage = env.get(PREFIX + "STORAGE", "local").strip().lower() or "local"
    if storage not in ("local", "s3"):
        raise SettingsError(f"{PREFIX}STORAGE={storage!r}: expected 'local' or 's3'")
    # Parsed also beside local storage when given: migrate_store.py copies S3 -> local with them.
    s3 = _s3_settings(env, required=storage == "s3")
    max_rounds = _int(env, "MAX_ROUNDS", 3, 1, 20)
    rounds_to_pass = _int(env, "ROUNDS_TO_PASS", 1, 1, 20)
    if rounds_to_pass > max_rounds:
        raise SettingsError(
            f"{PREFIX}ROUNDS_TO_PASS={rounds_to_pass} exceeds {PREFIX}MAX_ROUNDS={max_rounds}"
        )
    min_votes = _int(env, "CONSENSUS_MIN_VOTES", 10, 1, 100_000)
    ambiguous = _int(env, "AMBIGUOUS_AFTER_VOTES", 30, 1, 100_000)
    if ambiguous < min_votes:
        raise SettingsError(
            f"{PREFIX}AMBIGUOUS_AFTER_VOTES={ambiguous} is below "
            f"{PREFIX}CONSENSUS_MIN_VOTES={min_votes}"
        )
    return Settings(
        data_dir=Path(env.get(PREFIX + "DATA_DIR", "data") or "data"),
        host=(env.get(PREFIX + "HOST") or default_host).strip(),
        port=_int(env, "PORT", 7860, 1, 65535),
        starter_library=_bool(env, "STARTER_LIBRARY", True),
        secret_key=_optional_text(env, "SECRET_KEY", 32) or "",
        admin_token=_optional_text(env, "ADMIN_TOKEN", 16),
        admin_password=_optional_text(env, "ADMIN_PASSWORD", 8),
        rate_limit_per_min=_int(env, "RATE_LIMIT_PER_MIN", 20, 1, 10_000_000),
        trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
        storage=storage,
        s3=s3,
        rounds_to_pass=rounds_to_pass,
        max_rounds=max_rounds,
        challenge_ttl_s=_int(env, "CHALLENGE_TTL_S", 300, 10, 86_400),
        token_ttl_s=_int(env, "TOKEN_TTL_S", 120, 5, 86_400),
        consensus_min_votes=min_votes,
        consensus_min_share=_float(env, "CONSENSUS_MIN_SHARE", 0.6, 0.01, 1.0),
        ambiguous_after_votes=ambiguous,
        request_limit_per_min=_int(env, "REQUEST_LIMIT_PER_MIN", 600, 1, 10_000_000),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 16 * 1024, 256, 10_000_000),
        tts_checkpoint=(env.get(PREFIX + "TTS_CHECKPOINT") or "").strip(),
        vocoder=(env.get(PREFIX + "VOCODER") or "universal").strip(),
        retrain_threshold=_int(env, "RETRAIN_THRESHOLD", 50, 1, 10_000_000),
        consume_learning=_choice(env, "CONSUME_LEARNING", "move", ("move", "delete")),
    )


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env.get(PREFIX + name) or "").strip().lower() or default
    if value not in allowed:
        raise SettingsError(f"{PREFIX}{name}={value!r}: expected one of {', '.join(allowed)}")
    return value


_S3_CHOICES = {
    "ADDRESSING_STYLE": ("path", "virtual", "auto"),
    "CHECKSUM_MODE": ("when_required", "when_supported"),
    "RETRY_MODE": ("standard", "adaptive"),
}
_S3_KNOWN = {"ENDPOINT_URL", "REGION", "BUCKET", "PREFIX", "MAX_ATTEMPTS", "TIMEOUT_S", *_S3_CHOICES} | {
    f"{kind}_{pool.upper()}" for kind in ("BUCKET", "PREFIX") for pool in POOL_NAMES
}
_BUCKET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]$")


def _s3_settings(env: Mapping[str, str], required: bool) -> S3Settings | None:
    """INSIDEOUT_S3_*: one bucket for all pools (INSIDEOUT_S3_BUCKET, a prefix per pool) or a bucket
    per pool (INSIDEOUT_S3_BUCKET_PLAY, _UNVERIFIED, _LEARNING), and how to reach them."""
    s3 = PREFIX + "S3_"
    for key in env:
        if key.startswith(s3) and key[len(s3):] not in _S3_KNOWN:
            raise SettingsError(f"{key}: unknown setting; known: {', '.join(s3 + k for k in sorted(_S3_KNOWN))}")

    def text(name: str) -> str | None:
        raw = env.get(s3 + name)
        return raw.strip() if raw is not None and raw.strip() else None

    shared = text("BUCKET")
    buckets = {pool: text(f"BUCKET_{pool.upper()}") or shared for pool in POOL_NAMES}
    if not any(buckets.values()):
        if required:
            raise SettingsError(
                f"{PREFIX}STORAGE=s3 needs {s3}BUCKET (one bucket, a prefix per pool) or "
                f"{s3}BUCKET_PLAY, {s3}BUCKET_UNVERIFIED and {s3}BUCKET_LEARNING (a bucket per pool)"
            )
        return None
    missing = [pool for pool, bucket in buckets.items() if not bucket]
    if missing:
        raise SettingsError(
            f"no bucket for the pool(s) {', '.join(missing)}: set {s3}BUCKET for all pools, or "
            + ", ".join(f"{s3}BUCKET_{p.upper()}" for p in missing)
        )
    for pool, bucket in buckets.items():
        if not _BUCKET_NAME.match(bucket):
            hint = (" (a bucket name has no '/': for Hugging Face put the namespace in "
                    f"{s3}ENDPOINT_URL=https://s3.hf.co/<namespace>)" if "/" in bucket else "")
            raise SettingsError(
                f"bucket {bucket!r} of pool {pool}: not a bucket name (3 or more letters, digits, '.', '-', '_', "
                f"starting and ending with a letter or digit){hint}"
            )

    root = _s3_prefix(text("PREFIX"), s3 + "PREFIX")
    locations = []
    for pool, bucket in buckets.items():
        # Pools sharing a bucket get a folder each by default; a pool alone in its bucket needs none.
        alone = list(buckets.values()).count(bucket) == 1
        own = text(f"PREFIX_{pool.upper()}")
        prefix = root + (_s3_prefix(own, f"{s3}PREFIX_{pool.upper()}") if own else "" if alone else f"{pool}/")
        locations.append(S3Location(pool, bucket, prefix))
    places = [(loc.bucket, loc.prefix) for loc in locations]
    for loc in locations:
        if places.count((loc.bucket, loc.prefix)) > 1:
            raise SettingsError(
                f"two pools share bucket {loc.bucket!r} and prefix {loc.prefix!r}: give each pool its own "
                f"{s3}PREFIX_<POOL> or bucket"
            )

    endpoint = text("ENDPOINT_URL")
    if endpoint is not None and not re.match(r"^https?://[^/\s]+", endpoint):
        raise SettingsError(f"{s3}ENDPOINT_URL={endpoint!r}: expected a URL such as https://s3.hf.co/<namespace>")
    # Hugging Face's gateway addresses buckets as path segments and takes no trailing checksums.
    hugging_face = endpoint is not None and re.match(r"^https?://([^/]+\.)?hf\.co(/|$)", endpoint) is not None
    choices = {}
    for name, allowed in _S3_CHOICES.items():
        raw = (text(name) or "").lower()
        if raw and raw not in allowed:
            raise SettingsError(f"{s3}{name}={raw!r}: expected one of {', '.join(allowed)}")
        choices[name] = raw or None
    return S3Settings(
        locations=tuple(locations),
        endpoint_url=endpoint.rstrip("/") if endpoint else None,
        region=text("REGION") or ("us-east-1" if hugging_face else None),
        addressing_style=choices["ADDRESSING_STYLE"] or ("path" if hugging_face else "auto"),
        checksum_mode=choices["CHECKSUM_MODE"] or ("when_required" if hugging_face else "when_supported"),
        retry_mode=choices["RETRY_MODE"] or "standard",
        max_attempts=_int(env, "S3_MAX_ATTEMPTS", 5, 1, 20),
        timeout_s=_float(env, "S3_TIMEOUT_S", 10.0, 0.1, 600.0),
    )


def _s3_prefix(raw: str | None, name: str) -> str:
    """A key prefix, always ending in '/' so that 'audio' cannot run into the names ('audio1234...')."""
    if not raw:
        return ""
    prefix = raw.strip("/")
    if raw.startswith("/") or "//" in raw or any(part in (".", "..") for part in prefix.split("/")):
        raise SettingsError(f"{name}={raw!r}: expected a key prefix such as 'insideout/play/'")
    if not re.match(r"^[A-Za-z0-9!_.*'()/-]+$", prefix) or len(prefix) > 512:
        raise SettingsError(f"{name}={raw!r}: use letters, digits and - _ . / only")
    return prefix + "/"


def ensure_secret_key(settings: Settings) -> Settings:
    """Return settings with a secret key: the given one, or one generated once and kept in the data dir."""
    if settings.secret_key:
        return settings
    path = settings.data_dir / "secret_key"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # O_EXCL so two processes starting together agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
    key = path.read_text().strip()
    if len(key) < 32:
        raise SettingsError(f"{path}: the stored secret key is damaged; delete the file to make a new one")
    return replace(settings, secret_key=key)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    return ensure_secret_key(settings_from_env(env))
