"""Settings: one dataclass, read from the INSIDEOUT_* environment variables and validated at start."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

PREFIX = "INSIDEOUT_"


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what it accepts."""


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

    @property
    def db_path(self) -> Path:
        return self.data_dir / "insideout.db"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}={raw!r}: expected a whole number") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{PREFIX}{name}={value}: expected a number from {lo} to {hi}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{PREFIX}{name}={raw!r}: expected a number") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{PREFIX}{name}={value}: expected a number from {lo} to {hi}")
    return value


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
    if storage == "s3":
        raise SettingsError(f"{PREFIX}STORAGE=s3: the S3 store is not available in this version")
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
        rounds_to_pass=rounds_to_pass,
        max_rounds=max_rounds,
        challenge_ttl_s=_int(env, "CHALLENGE_TTL_S", 300, 10, 86_400),
        token_ttl_s=_int(env, "TOKEN_TTL_S", 120, 5, 86_400),
        consensus_min_votes=min_votes,
        consensus_min_share=_float(env, "CONSENSUS_MIN_SHARE", 0.6, 0.01, 1.0),
        ambiguous_after_votes=ambiguous,
        request_limit_per_min=_int(env, "REQUEST_LIMIT_PER_MIN", 600, 1, 10_000_000),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 16 * 1024, 256, 10_000_000),
    )


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
