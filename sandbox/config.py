"""Sandbox configuration: per-provider defaults, validation, and merging of partial updates."""

from __future__ import annotations

import copy
from typing import Any

PROVIDERS = ("justcall", "carrierx", "textingline", "skycore")

CREDENTIAL_FIELDS: dict[str, tuple[str, ...]] = {
    "justcall": ("api_key", "api_secret"),
    "carrierx": ("token",),
    "textingline": ("key_id", "key_secret"),
    "skycore": ("api_key",),
}

DEFAULT_CREDENTIALS: dict[str, list[dict[str, str]]] = {
    "justcall": [{"api_key": "sandbox-key", "api_secret": "sandbox-secret"}],
    "carrierx": [{"token": "sandbox-token"}],
    "textingline": [{"key_id": "sandbox-id", "key_secret": "sandbox-secret"}],
    "skycore": [{"api_key": "sandbox-key"}],
}

RECEIPT_DEFAULTS: dict[str, Any] = {
    "enabled": False,
    "delay_ms": 200,
    "fail_rate": 0.0,
    "duplicate_rate": 0.0,
    "reorder": False,
}

PROBABILITIES = ("fault_5xx", "reset_before", "reset_after", "timeout_before", "timeout_after")

# Provider-specific switches (all inferred; see README).
SWITCHES: dict[str, dict[str, bool]] = {
    "justcall": {},
    "carrierx": {"carrierx_retry_after": False},
    "textingline": {},
    "skycore": {"enforce_campaign_check": False, "skycore_inbound_xml": False},
}


class ConfigError(ValueError):
    """A configuration value or key the sandbox does not accept."""


def defaults(provider: str) -> dict[str, Any]:
    """Return a fresh copy of the default configuration of one provider."""
    config: dict[str, Any] = {
        "credentials": copy.deepcopy(DEFAULT_CREDENTIALS[provider]),
        "rate_limit": None,
        "quota": None,
        "latency_ms": 0,
        "latency_jitter_ms": 0,
        "hang_seconds": 30.0,
        "seed": None,
        "callback_url": None,
        "inbound_url": None,
        "senders": None,
        "receipts": dict(RECEIPT_DEFAULTS),
    }
    for key in PROBABILITIES:
        config[key] = 0.0
    config.update(SWITCHES[provider])
    return config


def build(config: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Return the full configuration: defaults overlaid with `config` (keyed by provider)."""
    result = {name: defaults(name) for name in PROVIDERS}
    if config is None:
        return result
    if not isinstance(config, dict):
        raise ConfigError("config must be an object keyed by provider name")
    for name, patch in config.items():
        if name not in result:
            raise ConfigError(f"unknown provider {name!r}; expected one of {', '.join(PROVIDERS)}")
        result[name] = merge(name, result[name], patch)
    return result


def merge(provider: str, current: dict[str, Any], patch: object) -> dict[str, Any]:
    """Validate `patch` and return a new config with it merged into `current`."""
    if not isinstance(patch, dict):
        raise ConfigError(f"{provider}: config must be a JSON object")
    new = copy.deepcopy(current)
    for key, value in patch.items():
        if key not in new:
            raise ConfigError(f"{provider}: unknown config key {key!r}")
        if key == "receipts":
            new[key] = _receipts(provider, new[key], value)
        else:
            new[key] = _check(provider, key, value)
    return new


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fail(provider: str, key: str, expected: str) -> ConfigError:
    return ConfigError(f"{provider}.{key}: expected {expected}")


def _check(provider: str, key: str, value: Any) -> Any:
    if key == "credentials":
        fields = CREDENTIAL_FIELDS[provider]
        ok = isinstance(value, list) and all(
            isinstance(c, dict) and all(isinstance(c.get(f), str) and c[f] for f in fields)
            for c in value
        )
        if not ok:
            raise _fail(provider, key, f"a list of objects with string {', '.join(fields)}")
        return value
    if key in ("rate_limit", "quota"):
        if value is None:
            return None
        if (
            not isinstance(value, dict)
            or set(value) != {"limit", "window"}
            or not isinstance(value["limit"], int)
            or isinstance(value["limit"], bool)
            or value["limit"] < 0
            or not _number(value["window"])
            or value["window"] <= 0
        ):
            raise _fail(provider, key, 'null or {"limit": int >= 0, "window": seconds > 0}')
        return {"limit": value["limit"], "window": value["window"]}
    if key in ("latency_ms", "latency_jitter_ms", "hang_seconds"):
        if not _number(value) or value < 0:
            raise _fail(provider, key, "a number >= 0")
        return value
    if key in PROBABILITIES:
        if not _number(value) or not 0 <= value <= 1:
            raise _fail(provider, key, "a probability between 0 and 1")
        return value
    if key == "seed":
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise _fail(provider, key, "null or an integer")
        return value
    if key in ("callback_url", "inbound_url"):
        if value is not None and not (
            isinstance(value, str) and value.startswith(("http://", "https://"))
        ):
            raise _fail(provider, key, "null or an http(s) URL")
        return value
    if key == "senders":
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        ):
            raise _fail(provider, key, "null or a list of sender numbers")
        return value
    if key in SWITCHES[provider]:
        if not isinstance(value, bool):
            raise _fail(provider, key, "true or false")
        return value
    raise ConfigError(f"{provider}: unknown config key {key!r}")  # pragma: no cover


def _receipts(provider: str, current: dict[str, Any], value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(provider, "receipts", "an object")
    new = dict(current)
    for key, item in value.items():
        if key not in RECEIPT_DEFAULTS:
            raise ConfigError(f"{provider}.receipts: unknown key {key!r}")
        if key in ("enabled", "reorder"):
            if not isinstance(item, bool):
                raise _fail(provider, f"receipts.{key}", "true or false")
        elif key == "delay_ms":
            if not _number(item) or item < 0:
                raise _fail(provider, "receipts.delay_ms", "a number >= 0")
        elif not _number(item) or not 0 <= item <= 1:
            raise _fail(provider, f"receipts.{key}", "a probability between 0 and 1")
        new[key] = item
    return new
