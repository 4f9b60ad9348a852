"""The provider adapters, one module each, found by account kind."""

from __future__ import annotations

from typing import Any

from sms.errors import ConfigError
from sms.providers.base import Adapter, Outcome, OutcomeKind, RateSignal, Request
from sms.providers.carrierx import CarrierXAdapter
from sms.providers.justcall import JustCallAdapter
from sms.providers.skycore import SkycoreAdapter
from sms.providers.textingline import TextingLineAdapter
from sms.settings import CarrierXAccount, JustCallAccount, SkycoreAccount, TextingLineAccount

__all__ = [
    "ADAPTERS",
    "Adapter",
    "CarrierXAdapter",
    "JustCallAdapter",
    "Outcome",
    "OutcomeKind",
    "RateSignal",
    "Request",
    "SkycoreAdapter",
    "TextingLineAdapter",
    "adapter_for",
]

ADAPTERS: dict[str, type[Adapter[Any]]] = {
    cls.kind: cls for cls in (JustCallAdapter, CarrierXAdapter, TextingLineAdapter, SkycoreAdapter)
}


def adapter_for(
    account: JustCallAccount | CarrierXAccount | TextingLineAccount | SkycoreAccount,
) -> Adapter[Any]:
    """The adapter for one provider account, chosen by its `kind`."""
    try:
        cls = ADAPTERS[account.kind]
    except KeyError:
        known = ", ".join(sorted(ADAPTERS))
        raise ConfigError(
            f"no adapter for provider kind {account.kind!r} (known: {known})"
        ) from None
    return cls(account)
