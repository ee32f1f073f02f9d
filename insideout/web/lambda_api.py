"""The HTTP API on AWS Lambda, behind API Gateway (deploy/aws): `handler` is the function's entry point.

It owns only what differs from `python app.py` there:
- it serves the HTTP API (insideout.web.api) and nothing of Gradio: the views run as the app's own service;
- it refuses settings that would lose data. A Lambda's disk is ephemeral and every instance has its own, so
  metadata must live in DynamoDB (INSIDEOUT_METADATA=dynamodb), audio in S3 (INSIDEOUT_STORAGE=s3), and the
  secret key must be given (one generated on an instance's disk would differ per instance, and a token one
  instance signed would fail on the next): INSIDEOUT_SECRET_KEY, or the Secrets Manager secret that
  SECRET_KEY_ARN names (the stack's way: the key stays out of the function's configuration);
- it never starts a fine-tune: a Lambda freezes between requests and lives 15 minutes at most, so a vote here
  that fills the learning pool leaves the fine-tune to the app's service (its admin's Start, or its own votes);
- it builds the engine on the first invocation, not at import, so importing this module stays cheap.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..settings import PREFIX, SettingsError, settings_from_env

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..settings import Settings

log = logging.getLogger("insideout.lambda")
SECRET_ARN_VARIABLE = "SECRET_KEY_ARN"
DATA_DIR = "/tmp/insideout"  # the only writable place on Lambda; nothing kept there needs to outlive an instance

_lock = threading.Lock()
_handler: Callable[[dict, Any], dict] | None = None


def check_durable(settings: Settings) -> None:
    """Refuse metadata and audio on the instance's own disk (see the module's docstring)."""
    why = "a Lambda's disk is ephemeral and each instance has its own, so it would lose data"
    if settings.metadata != "dynamodb":
        raise SettingsError(f"{PREFIX}METADATA={settings.metadata}: the Lambda API needs {PREFIX}METADATA=dynamodb "
                            f"({why})")
    if settings.storage != "s3":
        raise SettingsError(f"{PREFIX}STORAGE={settings.storage}: the Lambda API needs {PREFIX}STORAGE=s3 ({why})")


def lambda_settings(env: Mapping[str, str] | None = None,
                    fetch_secret: Callable[[str], str] | None = None) -> Settings:
    """The settings of the environment, checked for Lambda, with the secret key fetched when
    SECRET_KEY_ARN names it. `fetch_secret` (ARN -> value) defaults to Secrets Manager."""
    env = dict(os.environ if env is None else env)
    env.setdefault(f"{PREFIX}DATA_DIR", DATA_DIR)
    settings = settings_from_env(env)
    check_durable(settings)
    if settings.secret_key:
        return settings
    arn = env.get(SECRET_ARN_VARIABLE, "").strip()
    if not arn:
        raise SettingsError(
            f"the Lambda API needs {PREFIX}SECRET_KEY, or {SECRET_ARN_VARIABLE} naming a Secrets Manager secret "
            "that holds it: a key generated on an instance's ephemeral disk would differ per instance"
        )
    env[f"{PREFIX}SECRET_KEY"] = (fetch_secret or _secret_value)(arn)
    return settings_from_env(env)  # checks the fetched key as the variable itself would be checked


def _secret_value(arn: str) -> str:
    import boto3

    return boto3.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]


def create_api(settings: Settings) -> FastAPI:
    """A FastAPI app with the HTTP API of the engine `settings` describe, and nothing else."""
    from fastapi import FastAPI

    from ..services import build_services
    from . import api

    services = build_services(settings, announce=log.info)
    services.consensus.on_learning = None  # no fine-tune on Lambda (see the module's docstring)
    app = FastAPI(title="InsideOut", description="Emotion-based audio CAPTCHA and crowd-labeling API.", version="1")
    api.install(app, services)
    return app


def handler(event: dict, context: Any) -> dict:
    """The Lambda entry point: API Gateway's event in, its response out (Mangum translates)."""
    return _built()(event, context)


def _built() -> Callable[[dict, Any], dict]:
    global _handler
    with _lock:
        if _handler is None:
            from mangum import Mangum

            # lifespan off: the engine is built here, and a frozen instance has no shutdown to run.
            _handler = Mangum(create_api(lambda_settings()), lifespan="off")
        return _handler
