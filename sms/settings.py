"""Salvo's settings: one pydantic-settings model read from a TOML file and SALVO_* variables.

The file is the one given by `--config`, else `SALVO_CONFIG`, else `./salvo.toml` when present.
Environment variables override it, nested with `__`: `SALVO_PROVIDERS__REMINDERS__API_KEY`.
Settings are read once at an entry point and passed down; nothing below reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from sms.errors import ConfigError


class AccountBase(BaseModel):
    """What every provider account has: where to send, how fast, and what to do when unsure."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float | None = Field(default=None, gt=0, description="requests/s, all workers together")
    burst: int | None = Field(default=None, ge=1)
    sender_rate: float | None = Field(default=None, gt=0, description="per sender number, /s")
    sender_rate_unit: Literal["requests", "segments"] = "requests"
    on_unknown: Literal["hold", "resend"] = "hold"
    timeout: float = Field(default=15.0, gt=0, description="seconds for one provider call")
    max_in_flight: int = Field(default=64, ge=1, description="concurrent calls per worker process")
    receipt_secret: SecretStr | None = Field(
        default=None, description="path segment that authenticates this account's receipts"
    )


class JustCallAccount(AccountBase):
    """A JustCall account: `Authorization: {api_key}:{api_secret}`."""

    kind: Literal["justcall"]
    base_url: str = "https://api.justcall.io"
    api_key: SecretStr
    api_secret: SecretStr
    webhook_url: str | None = None
    signed_webhooks: bool = False  # receipts carry x-justcall-signature (HMAC by api_secret)


class CarrierXAccount(AccountBase):
    """A CarrierX partner: `Authorization: Bearer <token>`."""

    kind: Literal["carrierx"]
    base_url: str = "https://api.carrierx.com"
    token: SecretStr


class TextingLineAccount(AccountBase):
    """A TextingLine API key: HTTP Basic `key_id:key_secret`."""

    kind: Literal["textingline"]
    base_url: str = "https://platform.textingline.com"
    key_id: str
    key_secret: SecretStr


class SkycoreAccount(AccountBase):
    """A Skycore account: `x-api-key`, posted to the account's own endpoint URL."""

    kind: Literal["skycore"]
    endpoint_url: str
    api_key: SecretStr
    campaign_ref: str | None = None
    from_mask: str | None = None


Account = Annotated[
    JustCallAccount | CarrierXAccount | TextingLineAccount | SkycoreAccount,
    Field(discriminator="kind"),
]


class Settings(BaseSettings):
    """Everything Salvo is told; see ARCHITECTURE.md and README.md for each field."""

    model_config = SettingsConfigDict(
        env_prefix="SALVO_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    redis_url: str | None = None
    data_dir: Path | None = None
    providers: dict[str, Account] = Field(default_factory=dict)
    batch_size: int = Field(default=100, ge=1, le=1000)
    idempotency_retention: int = Field(default=7 * 24 * 3600, ge=60, description="seconds")
    republish_after: float = Field(
        default=120.0, gt=0, description="seconds a queued message may wait on an empty lane"
    )
    default_region: str | None = None
    public_url: str | None = None
    api_keys: list[SecretStr] = Field(default_factory=list)
    api_max_body: int = Field(default=1 << 20, ge=1024, description="bytes of a JSON request")
    api_max_upload: int = Field(default=1 << 30, ge=1024, description="bytes of a campaign file")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file, which arrives as init arguments.
        return (env_settings, init_settings)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> Settings:
        """Read the TOML file (if any) and the environment; raise ConfigError saying where."""
        source = _config_path(path)
        data: dict[str, Any] = {}
        if source is not None:
            try:
                data = tomllib.loads(source.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise ConfigError(f"{source}: no such configuration file") from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{source}: not valid TOML: {exc}") from None
        data.update(overrides)
        try:
            return cls(**data)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, source)) from None
        except SettingsError as exc:  # an environment variable that is not the JSON it must be
            raise ConfigError(f"environment: {exc}") from None

    def account(
        self, name: str
    ) -> JustCallAccount | CarrierXAccount | TextingLineAccount | SkycoreAccount:
        """The named provider account, or a ConfigError listing the ones there are."""
        try:
            return self.providers[name]
        except KeyError:
            known = ", ".join(sorted(self.providers)) or "none configured"
            raise ConfigError(f"unknown provider account {name!r} (known: {known})") from None


def _config_path(path: str | Path | None) -> Path | None:
    if path is not None:
        return Path(path)
    env = os.environ.get("SALVO_CONFIG")
    if env:
        return Path(env)
    default = Path("salvo.toml")
    return default if default.exists() else None


def _explain(exc: ValidationError, source: Path | None) -> str:
    where = str(source) if source else "settings"
    lines = [f"{where}: invalid settings"]
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"])
        msg = err["msg"]
        if err["type"] == "missing":
            msg = "required but missing"
        elif err["type"] == "extra_forbidden":
            msg = "not a known setting"
        lines.append(f"  {loc}: {msg}")
    return "\n".join(lines)
