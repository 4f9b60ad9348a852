"""Salvo's settings: one pydantic-settings model read from a TOML file and SALVO_* variables.

The file is the one given by `--config`, else `SALVO_CONFIG`, else `./salvo.toml` when present.
Environment variables override it, nested with `__`: `SALVO_PROVIDERS__REMINDERS__API_KEY`.
Settings are read once at an entry point and passed down; nothing below reads the environment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from sms.callbacks import check_url
from sms.errors import ConfigError
from sms.quiet import parse_window
from sms.validation import field_name, reason

LaneName = Literal["transactional", "bulk"]


def _window(value: str | None) -> str | None:
    """A quiet-hours window checked at load time, so a bad one is named where it is written."""
    if value is not None:
        parse_window(value)  # raises ValueError saying what is wrong
    return value


QuietHours = Annotated[str | None, AfterValidator(_window)]
#: A status callback URL (sms/callbacks.py), checked at load time: http or https only.
CallbackUrl = Annotated[str | None, AfterValidator(check_url)]

#: The URL schemes `redis_url` may use (sms/connect.py).
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "sentinel://")


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
    transactional_share: float = Field(
        default=0.0, ge=0, lt=1, description="share of `rate` only transactional sends may use"
    )
    receipt_secret: SecretStr | None = Field(
        default=None, description="path segment that authenticates this account's receipts"
    )
    # The audience (README "Opt-outs, quiet hours and preflight"): each None falls back to the
    # deployment-wide setting of the same name.
    optout_applies_to: Literal["all", "bulk"] = Field(
        default="all", description="lanes an opt-out suppresses: all, or bulk only"
    )
    quiet_hours: QuietHours = Field(default=None, description='"21:00-08:00", recipient time')
    quiet_lanes: tuple[LaneName, ...] | None = None
    smart_encoding: bool | None = None
    price_per_segment: float | None = Field(default=None, ge=0, description="per SMS segment")
    price_per_mms: float | None = Field(default=None, ge=0, description="per MMS message")
    # Status callbacks (README "Status callbacks"): each None falls back to the deployment's.
    status_webhook_url: CallbackUrl = Field(
        default=None, description="where this account's messages' status changes are posted"
    )
    status_webhook_secret: SecretStr | None = Field(
        default=None, description="signs this account's callbacks (HMAC-SHA256)"
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


#: Each kind of account: pydantic names it in an error's location, after the account's name, as
#: the union's tag (`providers.sms.justcall.rate`), where the user wrote no such thing.
KINDS = frozenset(
    kind
    for model in (JustCallAccount, CarrierXAccount, TextingLineAccount, SkycoreAccount)
    for kind in get_args(model.model_fields["kind"].annotation)
)


class Settings(BaseSettings):
    """Everything Salvo is told; see ARCHITECTURE.md and README.md for each field."""

    model_config = SettingsConfigDict(
        env_prefix="SALVO_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    redis_url: str | None = None
    data_dir: Path | None = None
    upload_dir: Path | None = Field(
        default=None, description="where uploads wait to be read (default: uploads/ in data_dir)"
    )
    providers: dict[str, Account] = Field(default_factory=dict)
    batch_size: int = Field(default=100, ge=1, le=1000)
    idempotency_retention: int = Field(default=7 * 24 * 3600, ge=60, description="seconds")
    republish_after: float = Field(
        default=120.0, gt=0, description="seconds a metered message may wait on an empty lane"
    )
    meter_horizon: float = Field(
        default=1.0, gt=0, le=10, description="seconds of an account's rate metered at a time"
    )
    worker_concurrency: int = Field(
        default=32, ge=1, le=1024, description="batches one worker process holds at once"
    )
    default_region: str | None = None
    public_url: str | None = None
    api_keys: list[SecretStr] = Field(default_factory=list)
    api_max_body: int = Field(default=1 << 20, ge=1024, description="bytes of a JSON request")
    api_max_upload: int = Field(default=1 << 30, ge=1024, description="bytes of a campaign file")
    optout_scope: Literal["account", "global"] = Field(
        default="account", description="an opt-out holds for the account it came through, or all"
    )
    quiet_hours: QuietHours = Field(default=None, description="for accounts that set none")
    quiet_lanes: tuple[LaneName, ...] = ("bulk",)
    smart_encoding: bool = False
    api_header_timeout: float = Field(
        default=10.0, gt=0, description="seconds to send a request's headers; idle keep-alive"
    )
    api_body_timeout: float = Field(
        default=30.0, gt=0, description="seconds for a JSON body; a stalled upload, per chunk"
    )
    api_max_connections: int = Field(default=1000, ge=1, description="open connections per process")
    receipt_window: int = Field(
        default=300, ge=30, description="seconds a signed receipt's timestamp may be off by"
    )
    status_webhook_url: CallbackUrl = Field(
        default=None, description="where every message's status changes are posted"
    )
    status_webhook_secret: SecretStr | None = Field(
        default=None, description="signs callbacks (HMAC-SHA256) for accounts that set none"
    )
    status_webhook_backoff: float = Field(
        default=5.0, gt=0, description="seconds before a failed callback's first retry; doubles"
    )
    status_webhook_max_age: float = Field(
        default=86400.0, gt=0, description="seconds a callback is retried before it is dropped"
    )
    status_webhook_timeout: float = Field(default=10.0, gt=0, description="seconds per POST")
    status_webhook_concurrency: int = Field(
        default=16, ge=1, le=1024, description="callbacks in flight per worker"
    )

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
            except IsADirectoryError:
                raise ConfigError(f"{source}: a directory, not a configuration file") from None
            except PermissionError:
                raise ConfigError(f"{source}: not allowed to read it") from None
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{source}: not UTF-8 (byte {exc.start + 1} is {exc.object[exc.start]:#04x}); "
                    "save it as UTF-8"
                ) from None
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{source}: not valid TOML: {exc}") from None
        data.update(overrides)
        try:
            return cls(**data)
        except ValidationError as exc:
            raise ConfigError(_explain(exc, source)) from None
        except SettingsError as exc:  # an environment variable that is not the JSON it must be
            raise ConfigError(f"environment: {exc}") from None

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(REDIS_SCHEMES):
            scheme = url.split("://")[0] + "://" if "://" in url else url[:20]
            raise ValueError(
                f"must start with {', '.join(REDIS_SCHEMES)} (not {scheme!r}): "
                "it names a Redis server, not a web address"
            )
        return url

    @model_validator(mode="after")
    def _callbacks_signed(self) -> Settings:
        """Every callback URL has a secret to sign with (its account's or the deployment's)."""
        if self.status_webhook_url and self.status_webhook_secret is None:
            unsigned = [n for n, a in self.providers.items() if a.status_webhook_secret is None]
            if unsigned or not self.providers:
                raise ValueError(
                    "status_webhook_url needs status_webhook_secret (callbacks are signed)"
                )
        for name, account in self.providers.items():
            if account.status_webhook_url and not (
                account.status_webhook_secret or self.status_webhook_secret
            ):
                raise ValueError(
                    f"providers.{name}.status_webhook_url needs status_webhook_secret (the "
                    "account's or the deployment's): callbacks are signed"
                )
        return self

    def account(
        self, name: str
    ) -> JustCallAccount | CarrierXAccount | TextingLineAccount | SkycoreAccount:
        """The named provider account, or a ConfigError listing the ones there are."""
        if (why := self.unknown_account(name)) is not None:
            raise ConfigError(why)
        return self.providers[name]

    def unknown_account(self, name: object) -> str | None:
        """Why `name` names no provider account, listing the ones there are (every door says
        it so); None when it names one."""
        if isinstance(name, str) and name in self.providers:
            return None
        known = ", ".join(sorted(self.providers)) or "none configured"
        return f"unknown provider account {name!r} (known: {known})"

    def quiet_for(self, name: str) -> tuple[str | None, tuple[str, ...]]:
        """The quiet-hours window and the lanes it covers for an account (its own, else the
        deployment's)."""
        account = self.account(name)
        window = account.quiet_hours if account.quiet_hours is not None else self.quiet_hours
        lanes = account.quiet_lanes if account.quiet_lanes is not None else self.quiet_lanes
        return window, lanes

    def smart_encoding_for(self, name: str) -> bool:
        """Whether an account's bodies have their typographic look-alikes made GSM-7."""
        own = self.account(name).smart_encoding
        return self.smart_encoding if own is None else own


def _config_path(path: str | Path | None) -> Path | None:
    if path is not None:
        return Path(path)
    env = os.environ.get("SALVO_CONFIG")
    if env:
        return Path(env)
    default = Path("salvo.toml")
    return default if default.exists() else None


def _explain(exc: ValidationError, source: Path | None) -> str:
    """pydantic's errors on one line: the file, then each setting and what is wrong with it."""
    where = str(source) if source else "settings"
    problems = []
    for err in exc.errors():
        path = err["loc"]
        if len(path) > 3 and path[0] == "providers" and path[2] in KINDS:
            path = (*path[:2], *path[3:])  # the union's tag, not a setting
        loc = field_name(path, {})
        msg = reason(err, unknown="not a known setting")  # as every door words them
        problems.append(f"{loc}: {msg}" if loc else msg)
    return f"{where}: invalid settings: {'; '.join(problems)}"
