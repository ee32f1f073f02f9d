"""Settings: one table of every INSIDEOUT_* variable (name, default, accepted values, help), from which the
Settings dataclass takes its defaults, the environment parser its rules, and `insideout settings` and the
README its text. Validated at start: a bad value stops the start with a message that names the variable."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .pools import POOLS

PREFIX = "INSIDEOUT_"
PROSODY_GUIDES = ("off", "pitch", "tempo", "pitch+tempo")  # what tts/guide.py can give a mel (PROSODY_GUIDE)


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and what it accepts."""


Parse = Callable[[str, str], object]  # (the variable's name, its raw text) -> the value; SettingsError if bad


@dataclass(frozen=True)
class Setting:
    """One INSIDEOUT_* variable. `field` is the Settings attribute it fills (None: one of a group that
    a parser of its own reads together, the S3 settings). `shown` is the default as people read it,
    where the value alone would not say it (a generated key, a default that depends on the platform)."""

    name: str  # without the INSIDEOUT_ prefix
    field: str | None
    default: object
    help: str
    parse: Parse | None = None
    shown: str | None = None

    @property
    def env(self) -> str:
        return PREFIX + self.name

    @property
    def default_text(self) -> str:
        if self.shown is not None:
            return self.shown
        if self.default is None or self.default == "" or self.default == ():
            return "none"
        if isinstance(self.default, bool):
            return "1" if self.default else "0"
        return str(self.default)


# -- parsers of one value ------------------------------------------------------------------------


def _number(kind: type, kind_name: str, lo: float, hi: float) -> Parse:
    def parse(name: str, raw: str):
        try:
            value = kind(raw.strip())
        except ValueError:
            raise SettingsError(f"{PREFIX}{name}={raw!r}: expected {kind_name}") from None
        if not lo <= value <= hi:
            raise SettingsError(f"{PREFIX}{name}={value}: expected a number from {lo} to {hi}")
        return value

    return parse


def whole(lo: int, hi: int) -> Parse:
    return _number(int, "a whole number", lo, hi)


def decimal(lo: float, hi: float) -> Parse:
    return _number(float, "a number", lo, hi)


def flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{PREFIX}{name}={raw!r}: expected 1 or 0")


def choice(*allowed: str) -> Parse:
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise SettingsError(f"{PREFIX}{name}={value!r}: expected one of {', '.join(allowed)}")
        return value

    return parse


def secret(min_length: int) -> Parse:
    def parse(name: str, raw: str) -> str:
        if len(raw) < min_length:
            raise SettingsError(f"{PREFIX}{name}: too short, use at least {min_length} characters")
        return raw

    return parse


def stripped(name: str, raw: str) -> str:
    return raw.strip()


def folder(name: str, raw: str) -> Path:
    return Path(raw)


def table_prefix(name: str, raw: str) -> str:
    value = raw.strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{0,200}", value):
        raise SettingsError(f"{PREFIX}{name}={value!r}: DynamoDB table names take letters, digits, _ . and - only")
    return value


def networks(name: str, raw: str) -> tuple:
    found = []
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(
                f"{PREFIX}{name}: {part!r} is not an IP address or network (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(found)


def _s3(name: str, help: str, shown: str = "none") -> Setting:
    return Setting(name, None, None, help, shown=shown)


# -- the table -------------------------------------------------------------------------------------

SETTINGS: tuple[Setting, ...] = (
    Setting("DATA_DIR", "data_dir", Path("data"), "where the SQLite file and local audio live", folder),
    Setting("HOST", "host", "127.0.0.1", "where `python app.py` serves", stripped,
            shown="`127.0.0.1` (`0.0.0.0` when `SPACE_ID` is set)"),
    Setting("PORT", "port", 7860, "the port it serves on", whole(1, 65535)),
    Setting("STARTER_LIBRARY", "starter_library", True,
            "`1`: build the starter library on first start when the play pool is empty; `0`: don't", flag),
    Setting("SECRET_KEY", "secret_key", "", "key for pass tokens (32+ characters)", secret(32),
            shown="generated once, kept in `DATA_DIR/secret_key`"),
    Setting("ADMIN_TOKEN", "admin_token", None, "bearer token for `/api/v1/admin/*` (16+ characters)", secret(16),
            shown="none: admin API off"),
    Setting("ADMIN_PASSWORD", "admin_password", None, "password of the `admin` account in the UI (8+ characters)",
            secret(8), shown="generated and printed at first start"),
    Setting("RATE_LIMIT_PER_MIN", "rate_limit_per_min", 20, "new challenges per client per minute",
            whole(1, 10_000_000)),
    Setting("REQUEST_LIMIT_PER_MIN", "request_limit_per_min", 600,
            "every request of a client per minute (audio, answers, siteverify, page actions)", whole(1, 10_000_000)),
    Setting("TRUSTED_PROXIES", "trusted_proxies", (),
            "comma-separated addresses or networks of proxies whose `X-Forwarded-For` names the client", networks,
            shown="none: the socket peer is the client"),
    Setting("MAX_BODY_BYTES", "max_body_bytes", 16 * 1024, "largest API request body", whole(256, 10_000_000)),
    Setting("CLIENT_IPV4_PREFIX", "client_ipv4_prefix", 32,
            "an IPv4 client is its address masked to this many bits (32: the address itself), for limits and votes",
            whole(8, 32)),
    Setting("CLIENT_IPV6_PREFIX", "client_ipv6_prefix", 64,
            "an IPv6 client is its address masked to this many bits (64: the /64 one host is commonly given, so one "
            "host is not 2^64 clients), for limits and votes", whole(16, 128)),
    Setting("MAX_HEADER_BYTES", "max_header_bytes", 32 * 1024,
            "largest request line and headers of one request; more gets 431 and the connection closed",
            whole(1024, 1_048_576)),
    Setting("HEADER_TIMEOUT_S", "header_timeout_s", 10.0,
            "seconds a client has to send a request's headers once it starts (slow clients get 408 and are "
            "closed)", decimal(0.5, 600.0)),
    Setting("BODY_TIMEOUT_S", "body_timeout_s", 30.0,
            "seconds a client has to send a request's body after its headers", decimal(0.5, 3600.0)),
    Setting("KEEPALIVE_S", "keepalive_s", 5.0, "seconds an idle keep-alive connection stays open",
            decimal(0.5, 600.0)),
    Setting("MAX_CONNECTIONS", "max_connections", 512,
            "open connections (and requests in flight) the server takes at once; past it new requests get 503",
            whole(8, 1_000_000)),
    Setting("EXPORT_KEY", "export_key", "",
            "key of the voter pseudonyms in the research exports (a keyed hash of the client, stable for one key, "
            "not reversible)", secret(16), shown="derived from the secret key"),
    Setting("REPAIR_GRACE_S", "repair_grace_s", 3600,
            "the repair at start leaves audio no clip row names alone while younger than this many seconds "
            "(another replica or an import may be writing it)", whole(0, 30 * 86_400)),
    Setting("ROUNDS_TO_PASS", "rounds_to_pass", 1, "passed rounds that pass a challenge", whole(1, 20)),
    Setting("MAX_ROUNDS", "max_rounds", 3, "rounds a challenge may take at most", whole(1, 20)),
    Setting("CHALLENGE_TTL_S", "challenge_ttl_s", 300, "lifetime of a challenge, seconds", whole(10, 86_400)),
    Setting("TOKEN_TTL_S", "token_ttl_s", 120, "lifetime of a pass token, seconds", whole(5, 86_400)),
    Setting("FEEDBACK", "feedback", "immediate",
            "what an answer tells: `immediate` (each round's outcome at once: `retry` after a wrong round, `passed` "
            "as soon as enough are right) or `deferred` (every round is played; `passed` or `failed` only after "
            "the last)", choice("immediate", "deferred")),
    Setting("SERVE_BUDGET", "serve_budget", 1,
            "servings of a play clip (as a round's control or decoy) after which it is retired as spent and never "
            "served again; `0`: no limit", whole(0, 1_000_000)),
    Setting("POW_DIFFICULTY", "pow_difficulty", 0,
            "proof of work before a new challenge: leading zero bits of SHA-256 a client must find at its lowest "
            "rate (rising with its recent rate); `0`: off", whole(0, 32)),
    Setting("ALT_POW_DIFFICULTY", "alt_pow_difficulty", 22,
            "the route for people who cannot hear (POST /api/v1/alternative): leading zero bits of SHA-256 the "
            "browser finds instead of answering audio (22: about 3 s on average in a desktop browser); its token says "
            "`method` `pow`", whole(1, 32)),
    Setting("FAIL_COOLDOWN_S", "fail_cooldown_s", 60,
            "the bot verdict: a client whose failed rounds since its last pass, in this many seconds, reach "
            "those that fail a challenge (abandoned challenges' included) opens no new challenge until they "
            "age out; `0`: off", whole(0, 86_400)),
    Setting("VOTES_PER_NETWORK", "votes_per_network", 2,
            "counted votes one client network (IPv4 /24, IPv6 /48) may give one clip; `0`: no cap", whole(0, 1_000)),
    Setting("SUSPECT_VOTE_SHARE", "suspect_vote_share", 0.5,
            "a fine-tune refuses a learning batch when more than this share of its counted votes came from "
            "single-use client addresses (one challenge ever, as a Sybil bot's); `1`: never refuses",
            decimal(0.0, 1.0)),
    Setting("PLAY_POOL_TARGET", "play_pool_target", 192,
            "fresh play clips the restock job keeps, rendering new ones (new sentences, the starter voices and "
            "presets) when the pool falls below; `0`: no restocking", whole(0, 1_000_000)),
    Setting("PRESET_VARIATION", "preset_variation", 0.0,
            "fresh clips: each emotion's departure from neutral in every preset field (F0 level and range, rate, "
            "energy, contour, voice quality) is scaled by a factor within 1 +- this, drawn from the secret key, "
            "so no one else can render this deployment's recipe; `0`: the public presets",
            decimal(0.0, 0.5)),
    Setting("CLIP_PITCH_ST", "clip_pitch_st", 0.0,
            "fresh clips: each clip's voice moves up or down by up to this many semitones (formants a third as "
            "far), every emotion alike, as between speakers; `0`: the starter voices' pitch", decimal(0.0, 6.0)),
    Setting("CLIP_TEMPO", "clip_tempo", 0.0,
            "fresh clips: each clip's tempo changes by a factor within 1 +- this, every emotion alike; `0`: none",
            decimal(0.0, 0.3)),
    Setting("SERVE_GAIN_DB", "serve_gain_db", 1.0,
            "each serving of a clip: its level changes by up to +- this many dB (besides random edge silence and "
            "dither, which make every serving's bytes differ)", decimal(0.0, 12.0)),
    Setting("SERVE_NOISE_SNR_DB", "serve_noise_snr_db", 0.0,
            "each serving: speech-shaped noise this many dB below the speech; `0`: none", decimal(0.0, 60.0)),
    Setting("SERVE_CROP_S", "serve_crop_s", 0.0,
            "each serving: up to this many seconds cut from the start of the speech (never its end); `0`: none",
            decimal(0.0, 1.0)),
    Setting("MACHINE_HARD", "machine_hard", 0.0,
            "fresh clips: the share of rendered clips that the site's own machine listener names right, "
            "rejected before they reach the play pool, so controls are those machines get wrong; `0`: none",
            decimal(0.0, 1.0)),
    Setting("ADVERSARIAL_SNR_DB", "adversarial_snr_db", 0.0,
            "fresh clips: an adversarial perturbation against the site's own machine listener, this many dB "
            "below the speech; `0`: none", decimal(0.0, 60.0)),
    Setting("CONSENSUS_MIN_VOTES", "consensus_min_votes", 10, "consensus: counted votes a clip needs at least",
            whole(1, 100_000)),
    Setting("CONSENSUS_MIN_SHARE", "consensus_min_share", 0.6,
            "consensus: the share of counted votes the top emotion needs", decimal(0.01, 1.0)),
    Setting("AMBIGUOUS_AFTER_VOTES", "ambiguous_after_votes", 30,
            "counted votes without consensus after which a clip is retired as ambiguous", whole(1, 100_000)),
    Setting("TTS_CHECKPOINT", "tts_checkpoint", "",
            "the acoustic model, a path or an http(s) URL (an admin's chosen version wins over it)", stripped,
            shown="`models/tacotron2-emotion.pt`"),
    Setting("VOCODER", "vocoder", "universal",
            "`universal` or `LJSpeech` (HiFi-GAN V1), `lite` (distilled from V1, faster: its model card "
            "`models/hifigan-lite/README.md`) or a HiFi-GAN checkpoint path", stripped),
    Setting("EMOTION_STRENGTH", "emotion_strength", 1.25,
            "how strongly generated speech carries its emotion: each emotion's input to the acoustic model scaled "
            "away from neutral's (1 as trained, 0 all neutral). At 1.25 the judge named 12.5 points more of the "
            "shipped model's 96 held-out clips than at 1, for 2.9 points of WER and 0.05 of DNSMOS; 1.5 cost "
            "0.18 of DNSMOS; with the pitch guide, the strong judge named 7 more of 96 at 1.25 than at 1 "
            "(its model card)", decimal(0.0, 3.0)),
    Setting("PROSODY_GUIDE", "prosody_guide", "pitch",
            "what generation gives each clip's mel before the vocoder hears it (`insideout/tts/guide.py`): `pitch` "
            "(a starter voice's register and the emotion preset's intonation, drawn as harmonics: the strong judge "
            "named 55 % of the shipped model's 96 held-out clips' emotions where it named 27 % without, for 0.02 "
            "of DNSMOS), `tempo` (the preset's rate against the model's neutral rendering), `pitch+tempo`, or `off` "
            "(the model's mel as it is)",
            choice(*PROSODY_GUIDES)),
    Setting("MEL_REFINER", "mel_refiner", "",
            "the learned net each pitch-guided mel goes through before the vocoder, giving back the voice quality "
            "the guide's harmonics lack (`insideout/tts/refiner.py`, its model card `models/mel-refiner.md`): a "
            "file made by `insideout train-refiner` (or `insideout emphasize-refiner`), or `off`. With the shipped one "
            "the strong judge names 75 of the shipped model's 96 held-out clips (the teacher's clips 80) and DNSMOS "
            "rates them 2.77 (the teacher's 2.65), at a WER of 45.0 % (the teacher's 56.8 %)", stripped,
            shown="`models/mel-refiner.pt`"),
    Setting("RETRAIN_THRESHOLD", "retrain_threshold", 50, "learning clips that start a fine-tune",
            whole(1, 10_000_000)),
    Setting("CONSUME_LEARNING", "consume_learning", "move",
            "what a finished fine-tune does with its learning clips: `move` (to play, with their consensus label) "
            "or `delete`", choice("move", "delete")),
    Setting("STORAGE", "storage", "local", "where audio lives: `local` (DATA_DIR/audio) or `s3`",
            choice("local", "s3")),
    Setting("METADATA", "metadata", "sqlite",
            "where metadata lives: `sqlite` (one file in DATA_DIR, one replica) or `dynamodb` (tables several "
            "replicas share: docs/dynamodb.md)", choice("sqlite", "dynamodb")),
    Setting("DYNAMODB_TABLE_PREFIX", "dynamodb_table_prefix", "insideout-",
            "the DynamoDB tables' name prefix (one deployment's tables)", table_prefix),
    Setting("DYNAMODB_ENDPOINT_URL", "dynamodb_endpoint_url", "",
            "a DynamoDB endpoint other than AWS's (DynamoDB Local, moto); region and credentials: boto3's usual "
            "AWS_* variables", stripped, shown="AWS"),
    _s3("S3_BUCKET", "one bucket for all pools"),
    _s3("S3_BUCKET_PLAY", "the play pool's own bucket (overrides S3_BUCKET for it)"),
    _s3("S3_BUCKET_UNVERIFIED", "the unverified pool's own bucket"),
    _s3("S3_BUCKET_LEARNING", "the learning pool's own bucket"),
    _s3("S3_PREFIX", "a prefix before every pool's keys"),
    _s3("S3_PREFIX_PLAY", "the play pool's own prefix (after S3_PREFIX)",
        "`play/` when pools share a bucket, none when the pool has its own"),
    _s3("S3_PREFIX_UNVERIFIED", "the unverified pool's own prefix", "`unverified/` when pools share a bucket"),
    _s3("S3_PREFIX_LEARNING", "the learning pool's own prefix", "`learning/` when pools share a bucket"),
    _s3("S3_ENDPOINT_URL", "an S3-compatible endpoint, e.g. `https://s3.hf.co/<namespace>`", "AWS"),
    _s3("S3_REGION", "the region", "boto3's; `us-east-1` on hf.co"),
    _s3("S3_ADDRESSING_STYLE", "`path`, `virtual` or `auto`", "`auto`; `path` on hf.co"),
    _s3("S3_CHECKSUM_MODE", "`when_supported` or `when_required` (request checksums and response validation)",
        "`when_supported`; `when_required` on hf.co"),
    _s3("S3_RETRY_MODE", "botocore's `standard` or `adaptive` retries, with backoff", "`standard`"),
    Setting("S3_MAX_ATTEMPTS", None, 5, "tries per request, the first one included", whole(1, 20)),
    Setting("S3_TIMEOUT_S", None, 10.0, "connect and read timeout of one try, seconds", decimal(0.1, 600.0)),
)
SETTING = {s.name: s for s in SETTINGS}
_DEFAULT = {s.field: s.default for s in SETTINGS if s.field}


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
    addressing_style: str = "auto"  # path | virtual | auto (the table says when hf.co changes it)
    checksum_mode: str = "when_supported"  # when_supported | when_required
    retry_mode: str = "standard"  # standard | adaptive
    max_attempts: int = SETTING["S3_MAX_ATTEMPTS"].default  # per request, the first try included
    timeout_s: float = SETTING["S3_TIMEOUT_S"].default  # connect and read timeouts of one try

    def location(self, pool: str) -> S3Location:
        for loc in self.locations:
            if loc.pool == pool:
                return loc
        raise KeyError(pool)


@dataclass(frozen=True)
class Settings:
    """Every setting, with the table's defaults (one home for them: the consensus rule and the challenge
    policy take theirs from here)."""

    data_dir: Path = _DEFAULT["data_dir"]
    host: str = _DEFAULT["host"]
    port: int = _DEFAULT["port"]
    starter_library: bool = _DEFAULT["starter_library"]
    secret_key: str = _DEFAULT["secret_key"]  # filled from the data dir by load_settings() when not given
    admin_token: str | None = _DEFAULT["admin_token"]
    admin_password: str | None = _DEFAULT["admin_password"]
    rate_limit_per_min: int = _DEFAULT["rate_limit_per_min"]
    request_limit_per_min: int = _DEFAULT["request_limit_per_min"]
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = _DEFAULT["trusted_proxies"]
    max_body_bytes: int = _DEFAULT["max_body_bytes"]
    client_ipv4_prefix: int = _DEFAULT["client_ipv4_prefix"]
    client_ipv6_prefix: int = _DEFAULT["client_ipv6_prefix"]
    max_header_bytes: int = _DEFAULT["max_header_bytes"]
    header_timeout_s: float = _DEFAULT["header_timeout_s"]
    body_timeout_s: float = _DEFAULT["body_timeout_s"]
    keepalive_s: float = _DEFAULT["keepalive_s"]
    max_connections: int = _DEFAULT["max_connections"]
    export_key: str = _DEFAULT["export_key"]  # "": derived from secret_key
    repair_grace_s: int = _DEFAULT["repair_grace_s"]
    rounds_to_pass: int = _DEFAULT["rounds_to_pass"]
    max_rounds: int = _DEFAULT["max_rounds"]
    challenge_ttl_s: int = _DEFAULT["challenge_ttl_s"]
    token_ttl_s: int = _DEFAULT["token_ttl_s"]
    feedback: str = _DEFAULT["feedback"]
    serve_budget: int = _DEFAULT["serve_budget"]
    pow_difficulty: int = _DEFAULT["pow_difficulty"]
    alt_pow_difficulty: int = _DEFAULT["alt_pow_difficulty"]
    fail_cooldown_s: int = _DEFAULT["fail_cooldown_s"]
    votes_per_network: int = _DEFAULT["votes_per_network"]
    suspect_vote_share: float = _DEFAULT["suspect_vote_share"]
    play_pool_target: int = _DEFAULT["play_pool_target"]
    preset_variation: float = _DEFAULT["preset_variation"]
    clip_pitch_st: float = _DEFAULT["clip_pitch_st"]
    clip_tempo: float = _DEFAULT["clip_tempo"]
    serve_gain_db: float = _DEFAULT["serve_gain_db"]
    serve_noise_snr_db: float = _DEFAULT["serve_noise_snr_db"]
    serve_crop_s: float = _DEFAULT["serve_crop_s"]
    machine_hard: float = _DEFAULT["machine_hard"]
    adversarial_snr_db: float = _DEFAULT["adversarial_snr_db"]
    consensus_min_votes: int = _DEFAULT["consensus_min_votes"]
    consensus_min_share: float = _DEFAULT["consensus_min_share"]
    ambiguous_after_votes: int = _DEFAULT["ambiguous_after_votes"]
    tts_checkpoint: str = _DEFAULT["tts_checkpoint"]  # "": the shipped default
    vocoder: str = _DEFAULT["vocoder"]
    emotion_strength: float = _DEFAULT["emotion_strength"]
    prosody_guide: str = _DEFAULT["prosody_guide"]
    mel_refiner: str = _DEFAULT["mel_refiner"]  # "": the shipped refiner, "off": none
    retrain_threshold: int = _DEFAULT["retrain_threshold"]
    consume_learning: str = _DEFAULT["consume_learning"]
    metadata: str = _DEFAULT["metadata"]
    dynamodb_table_prefix: str = _DEFAULT["dynamodb_table_prefix"]
    dynamodb_endpoint_url: str = _DEFAULT["dynamodb_endpoint_url"]  # "": AWS
    storage: str = _DEFAULT["storage"]
    s3: S3Settings | None = None  # set when INSIDEOUT_STORAGE=s3, or when INSIDEOUT_S3_* name a bucket

    @property
    def pseudonym_key(self) -> bytes:
        """The key of the voter pseudonyms in exports: INSIDEOUT_EXPORT_KEY, else one derived from the secret
        key (so exports of one deployment agree, and rotating the export key unlinks later ones)."""
        if self.export_key:
            return self.export_key.encode()
        return hmac.new(self.secret_key.encode(), b"insideout export pseudonyms v1", hashlib.sha256).digest()

    @property
    def metadata_where(self) -> str:
        """Where the metadata is, for people: the SQLite file, or the DynamoDB tables' prefix and endpoint."""
        if self.metadata == "dynamodb":
            return f"the DynamoDB tables {self.dynamodb_table_prefix}* ({self.dynamodb_endpoint_url or 'AWS'})"
        return str(self.db_path)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "insideout.db"

    @property
    def audio_dir(self) -> Path:
        return self.data_dir / "audio"


def _value(env: Mapping[str, str], setting: Setting):
    raw = env.get(setting.env)
    if raw is None or raw.strip() == "":
        return setting.default
    return setting.parse(setting.name, raw)


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Parse and validate the settings; raises SettingsError with a message a person can act on."""
    env = os.environ if env is None else env
    values = {s.field: _value(env, s) for s in SETTINGS if s.field and s.parse}
    if not env.get(SETTING["HOST"].env, "").strip() and env.get("SPACE_ID"):
        values["host"] = "0.0.0.0"  # a Space's proxy reaches the app from outside the container
    if values["rounds_to_pass"] > values["max_rounds"]:
        raise SettingsError(f"{PREFIX}ROUNDS_TO_PASS={values['rounds_to_pass']} exceeds "
                            f"{PREFIX}MAX_ROUNDS={values['max_rounds']}")
    if values["ambiguous_after_votes"] < values["consensus_min_votes"]:
        raise SettingsError(f"{PREFIX}AMBIGUOUS_AFTER_VOTES={values['ambiguous_after_votes']} is below "
                            f"{PREFIX}CONSENSUS_MIN_VOTES={values['consensus_min_votes']}")
    # Parsed also beside local storage when given: `insideout migrate` copies S3 -> local with them.
    values["s3"] = _s3_settings(env, required=values["storage"] == "s3")
    return Settings(**values)


def setting_changes(assignments: Mapping[str, str]) -> dict[str, object]:
    """Settings fields from INSIDEOUT_NAME -> raw text, parsed as the environment would be (for
    dataclasses.replace on a Settings). An unknown name, or one of the S3 group, is a SettingsError."""
    by_env = {s.env: s for s in SETTINGS if s.field and s.parse}
    changes = {}
    for name, raw in assignments.items():
        setting = by_env.get(name) or by_env.get(PREFIX + name)
        if setting is None:
            raise SettingsError(f"{name} is not a setting this can change (`insideout settings` lists them)")
        changes[setting.field] = setting.parse(setting.name, raw)
    return changes


def settings_help(markdown: bool = False) -> str:
    """Every INSIDEOUT_* variable with its default and help: plain text for `insideout settings`, or the
    README's settings table."""
    if markdown:
        rows = ["| variable | meaning | default |", "|---|---|---|"]
        rows += [f"| `{s.env}` | {s.help} | {_code(s.default_text)} |" for s in SETTINGS]
        return "\n".join(rows) + "\n"
    width = max(len(s.env) for s in SETTINGS)
    lines = []
    for s in SETTINGS:
        lines.append(f"{s.env:<{width}}  {s.help.replace('`', '')}")
        lines.append(f"{'':<{width}}  default: {s.default_text.replace('`', '')}")
    return "\n".join(lines) + "\n"


def _code(text: str) -> str:
    """A plain default in backticks; one that already has some, or is a phrase, as it is."""
    return text if "`" in text or " " in text or text == "none" else f"`{text}`"


def settings_fields() -> set[str]:
    """The Settings attributes the table fills (the rest are derived: s3)."""
    return {f.name for f in fields(Settings)} - {"s3"}


_S3_CHOICES = {
    "ADDRESSING_STYLE": ("path", "virtual", "auto"),
    "CHECKSUM_MODE": ("when_required", "when_supported"),
    "RETRY_MODE": ("standard", "adaptive"),
}
_S3_KNOWN = {s.name[len("S3_"):] for s in SETTINGS if s.name.startswith("S3_")}
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
    buckets = {pool: text(f"BUCKET_{pool.upper()}") or shared for pool in POOLS}
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
        max_attempts=_value(env, SETTING["S3_MAX_ATTEMPTS"]),
        timeout_s=_value(env, SETTING["S3_TIMEOUT_S"]),
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
    from .private import private_dir

    private_dir(settings.data_dir)
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
