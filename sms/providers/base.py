"""What every provider adapter is: pure request building and answer parsing, plus one small send.

An adapter never raises for a provider's answer or a transport failure: `send` returns an
`Outcome` in one of the classes of shared/providers/NOTES.md, and aiohttp's exceptions are
translated here, at the edge, so the worker acts on the class and never on a raw code.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, Literal, TypeVar

import aiohttp

from sms.errors import Problem
from sms.message import Message, Status
from sms.settings import AccountBase


class OutcomeKind(StrEnum):
    """The outcome classes every provider's answers map into (NOTES.md)."""

    ACCEPTED = "accepted"  # the provider took it and gave an id
    REJECTED = "rejected"  # this message will never go as it is
    CONFIG_ERROR = "config_error"  # every message through this account would fail
    RATE_LIMITED = "rate_limited"  # slow down; costs no attempt
    QUOTA_EXHAUSTED = "quota_exhausted"  # a long window is spent
    RETRYABLE = "retryable"  # certainly not accepted; try again later
    UNKNOWN = "unknown"  # may have been accepted; never resend blindly


@dataclass(frozen=True, slots=True)
class RateSignal:
    """What a provider's headers say of its limits, for learning a limit nobody configured."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds
    window: float | None = None  # seconds the limit counts over, where known


@dataclass(frozen=True, slots=True)
class Outcome:
    """One provider answer (or the lack of one), classified."""

    kind: OutcomeKind
    reason: str = ""
    provider_id: str | None = None
    retry_after: float | None = None  # seconds the provider asked us to wait, if it said
    signal: RateSignal | None = None
    segments: int | None = None  # what the provider billed, where it says
    #: The provider refused because the recipient opted out (or is not subscribed): the number
    #: belongs on the suppression list (sms/optout.py), whatever the outcome class.
    opted_out: bool = False
    #: What a config error concerns: the whole account (credentials, billing, API off), or only
    #: the sender number the message went from (not owned, not active): hold that, no wider.
    scope: Literal["account", "sender"] = "account"


@dataclass(frozen=True, slots=True)
class Request:
    """An HTTP request, built without any I/O so a test can compare it to the document."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)


A = TypeVar("A", bound=AccountBase)


class Adapter(ABC, Generic[A]):
    """One provider account's adapter. Subclasses are pure but for the shared `send`."""

    kind: ClassVar[str]
    supports_mms: ClassVar[bool]
    #: True when resending after an unknown outcome cannot send twice (TextingLine idempotencyKey).
    idempotent_resend: ClassVar[bool] = False

    def __init__(self, account: A) -> None:
        self.account = account

    @property
    def resend_is_safe(self) -> bool:
        """Whether a message whose outcome is unknown may be sent again: the provider dedups it
        (`idempotent_resend`), or the account's operator chose so (`on_unknown = "resend"`).
        The one place this rule lives."""
        return self.idempotent_resend or self.account.on_unknown == "resend"

    @abstractmethod
    def validate(self, message: Message) -> list[Problem]:
        """Everything this provider would refuse in `message`, found before it is enqueued."""

    @abstractmethod
    def build_request(self, message: Message, *, receipt_url: str | None = None) -> Request:
        """The exact request the provider's document asks for."""

    @abstractmethod
    def parse_receipt(self, body: bytes, headers: Mapping[str, str]) -> Receipt | None:
        """The provider's delivery report read into a Receipt (pure); None for an event Salvo
        does not track; BadReceipt for a body of another shape."""

    @abstractmethod
    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Classify a complete HTTP answer."""

    async def send(
        self,
        session: aiohttp.ClientSession,
        message: Message,
        *,
        receipt_url: str | None = None,
    ) -> Outcome:
        """Send one message on `session`; every failure comes back as an Outcome."""
        request = self.build_request(message, receipt_url=receipt_url)
        # With only `total`, a connect that hangs ends as a bare TimeoutError (reported as
        # unknown); a separate socket-connect limit makes it ConnectionTimeoutError (retryable).
        limit = self.account.timeout
        timeout = aiohttp.ClientTimeout(total=limit, sock_connect=limit / 2)
        try:
            async with session.request(
                request.method,
                request.url,
                data=json.dumps(request.json, separators=(",", ":")),
                headers={**request.headers, "Content-Type": "application/json"},
                timeout=timeout,
            ) as resp:
                body = await resp.read()
                return self.parse_response(resp.status, resp.headers, body)
        except aiohttp.ClientConnectorError as exc:
            # Nothing was written: the connection itself could not be made.
            return Outcome(OutcomeKind.RETRYABLE, f"connection failed: {exc.os_error}")
        except aiohttp.ConnectionTimeoutError:
            return Outcome(OutcomeKind.RETRYABLE, "timed out connecting")
        except aiohttp.InvalidURL as exc:
            # Refused before any connection: every message to this URL would be refused too.
            return Outcome(OutcomeKind.CONFIG_ERROR, f"invalid provider URL: {exc}")
        except TimeoutError:
            return Outcome(OutcomeKind.UNKNOWN, f"no answer within {self.account.timeout:g}s")
        except aiohttp.ServerDisconnectedError:
            return Outcome(OutcomeKind.UNKNOWN, "server closed the connection before answering")
        except aiohttp.ClientPayloadError as exc:
            return Outcome(OutcomeKind.UNKNOWN, f"answer cut short: {exc}")
        except (aiohttp.ClientError, OSError) as exc:
            return Outcome(OutcomeKind.UNKNOWN, f"{type(exc).__name__}: {exc}")


_OPTED_OUT = re.compile(r"opted[ -]?out|unsubscribed", re.IGNORECASE)


def says_opted_out(text: str) -> bool:
    """Whether a provider's error text says the recipient opted out (JustCall and CarrierX have
    no code for it, only words)."""
    return bool(_OPTED_OUT.search(text))


def load_json(body: bytes) -> Any:
    """Parse a JSON body, or return None when it is not JSON (or nested too deep to parse)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def parse_retry_after(value: str | None, *, now: float, cap: float = 3600.0) -> float | None:
    """`Retry-After` in seconds or as an HTTP date, as seconds from `now`; None when unusable.

    Negative values become 0, huge ones are capped, garbage is ignored.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)


def parse_reset(value: str | None, *, now: float, cap: float = 2 * 86400.0) -> float | None:
    """A rate-limit reset header (epoch seconds) as seconds from `now`; None when unusable.

    A value below 10^9 cannot be an epoch time in this century, so it is read as a delta.
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    if seconds >= 1e9:
        seconds -= now
    return min(max(seconds, 0.0), cap)


def parse_count(value: str | None) -> int | None:
    """A rate-limit count header ('30', ' 29 ') as an int; None when absent or garbage."""
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Receipt:
    """A provider's delivery report in our terms: which message, and the status it reached.

    `provider_id` is the provider's id for the message; `our_id` is our own id where the provider
    echoes it (CarrierX `user_data`) or the receipt URL carries it (JustCall's `?m=`).
    """

    status: Status
    provider_id: str | None = None
    our_id: str | None = None
    reason: str = ""
    at: float | None = None  # epoch seconds, as the provider stamped it
    event: str | None = None  # the provider's id of this notification, where it gives one


class BadReceipt(ValueError):
    """A body that is not this provider's receipt shape at all."""


#: The delivery-status words JustCall, CarrierX and TextingLine all use in their receipts
#: (`queued` and the rest are not tracked).
DELIVERY_STATUSES: dict[str, Status] = {
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
}


def receipt_object(body: bytes) -> dict[str, Any]:
    """The JSON object a receipt must be, or BadReceipt."""
    data = load_json(body)
    if not isinstance(data, dict):
        raise BadReceipt("not a JSON object")
    return data


def receipt_id(value: object, name: str) -> str:
    """A provider message id from a receipt field (string or number), or BadReceipt."""
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value):
        raise BadReceipt(f"no {name}")
    return str(value)


def parse_time(value: object) -> float | None:
    """An ISO 8601 time ('2026-03-15T14:30:05.000Z', '2024-03-21 17:08:22', naive = UTC) or
    epoch seconds, as epoch seconds; None when absent or unreadable."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
