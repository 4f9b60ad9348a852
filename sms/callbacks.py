"""Status callbacks: the events Salvo posts to a customer's URL, how they are signed, and which
URL and secret apply to a message.

A URL applies to a message when it has its own (`callback_url`), else when its campaign has one
(`salvo blast --callback-url`), else its account's `status_webhook_url`, else the deployment's.
It is decided when the message is enqueued and kept in its record (`callback`); from then on
every script that changes the message's status (sms/lua/hooks.lua, prepended to enqueue, claim,
move and receipt) writes an event in the same atomic step: `message.status` for each change, and
`campaign.finished` when a campaign's last message leaves `queued` and `sending` (after its rows
are all enqueued). The workers' callback sender (worker/callbacks.py) posts each event until
the URL answers 2xx, with exponential backoff, for `status_webhook_max_age` seconds.

Each POST carries `Salvo-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
`f"{t}.{body}"` with the account's (else the deployment's) `status_webhook_secret`: `verify` is
what a receiver does, and README.md shows it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

import redis
from pydantic import BaseModel, ConfigDict, Field

from sms import keys
from sms.times import iso

if TYPE_CHECKING:
    from sms.settings import Settings

#: The header that carries the signature.
SIGNATURE_HEADER = "Salvo-Signature"
#: Seconds a receiver should accept a signature's timestamp within (of its own clock).
TOLERANCE = 300
#: The longest wait between two tries of one event.
MAX_BACKOFF = 3600.0

#: http(s), a host, then printable ASCII only (no space or control character; IDN hosts in
#: their xn-- form, other characters percent-encoded).
_URL = re.compile(r"^https?://[!-.0-~]+(?:[/?#][!-~]*)?$", re.IGNORECASE)


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a callback URL, or None when it can (http or https, with a host)."""
    if not _URL.match(url):
        return f"{url!r} is not an http(s) URL (printable ASCII, percent-encode the rest)"
    if len(url) > 2000:
        return "longer than 2000 characters"
    return None


def check_url(url: str | None) -> str | None:
    """`url` when it is a callback URL (or None), else ValueError saying why."""
    if url is not None and (problem := url_problem(url)):
        raise ValueError(problem)
    return url


def url_for(settings: Settings, account: str, own: str | None = None) -> str | None:
    """The URL a message's events go to: its own (or its campaign's), else its account's, else
    the deployment's; None when none is set."""
    if own:
        return own
    acct = settings.providers.get(account)
    if acct is not None and acct.status_webhook_url:
        return acct.status_webhook_url
    return settings.status_webhook_url


def secret_for(settings: Settings, account: str) -> str | None:
    """The secret an account's events are signed with: its own, else the deployment's."""
    acct = settings.providers.get(account)
    secret = acct.status_webhook_secret if acct is not None else None
    secret = secret or settings.status_webhook_secret
    return secret.get_secret_value() if secret is not None else None


def enabled(settings: Settings) -> bool:
    """Whether any callback can be signed here (a secret is set somewhere); without one, no
    event is ever written and no worker runs a callback sender."""
    return settings.status_webhook_secret is not None or any(
        a.status_webhook_secret is not None for a in settings.providers.values()
    )


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Salvo-Signature` header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, body: bytes, header: str, now: float | None = None, tolerance: int = TOLERANCE
) -> bool:
    """What a receiver checks: the header's HMAC over `t.body` matches, and `t` is within
    `tolerance` seconds of `now`. The same logic as README.md's snippet."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - t) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def backoff(tries: int, base: float, cap: float = MAX_BACKOFF) -> float:
    """Seconds before the next try of an event tried `tries` times: base, doubling, capped."""
    return float(min(cap, base * 2 ** max(0, min(tries - 1, 40))))


# The events as posted.


class MessageStatus(BaseModel):
    """A message entered a status."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    sequence: int = Field(description="the message's n-th event: order them by it")
    account: str
    campaign: str | None
    to: str
    status: str
    previous_status: str | None = Field(description="None for the first, `queued`")
    reason: str
    provider_id: str | None
    attempts: int


class CampaignFinished(BaseModel):
    """A campaign has nothing left queued or sending: every message ended (or is `unknown`)."""

    model_config = ConfigDict(frozen=True)

    campaign: str
    account: str
    counts: dict[str, int] = Field(description="its messages by status, and `total`")


class Event(BaseModel):
    """One event, the body of one POST. Its `id` is the same on every retry."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: Literal["message.status", "campaign.finished"]
    created_at: str = Field(description="when the change happened, ISO 8601")
    data: Annotated[MessageStatus | CampaignFinished, Field(union_mode="left_to_right")]

    def body(self) -> bytes:
        """The bytes posted (and signed): compact JSON."""
        return self.model_dump_json().encode()


class Stored(BaseModel):
    """An event as hooks.lua stores it: the URL it goes to, and what it reports."""

    model_config = ConfigDict(extra="ignore")

    url: str
    type: Literal["message.status", "campaign.finished"]
    at: float
    account: str = ""
    # message.status
    message: str = ""
    seq: int = 0
    campaign: str = ""
    to: str = ""
    status: str = ""
    previous: str = ""
    reason: str = ""
    provider_id: str = ""
    attempts: int = 0
    # campaign.finished
    counts: dict[str, int] | list[Any] = Field(default_factory=dict)  # cjson: {} may be []

    def event(self, event_id: str) -> Event:
        """The event to post, the same bytes every time it is tried."""
        data: MessageStatus | CampaignFinished
        if self.type == "message.status":
            data = MessageStatus(
                message_id=self.message,
                sequence=self.seq,
                account=self.account,
                campaign=self.campaign or None,
                to=self.to,
                status=self.status,
                previous_status=self.previous or None,
                reason=self.reason,
                provider_id=self.provider_id or None,
                attempts=self.attempts,
            )
        else:
            counts = self.counts if isinstance(self.counts, dict) else {}
            data = CampaignFinished(campaign=self.campaign, account=self.account, counts=counts)
        return Event(id=event_id, type=self.type, created_at=iso(self.at), data=data)


# A campaign's URL and its ingest, for campaign.finished.


def open_campaign(client: redis.Redis, campaign_id: str, url: str | None) -> None:
    """A blast of the campaign starts writing rows: its events go to `url` (None: none), and
    no `campaign.finished` is sent while `ingesting` is set (its messages may all end before
    the next chunk is written)."""
    key = keys.campaign(campaign_id)
    pipe = client.pipeline(transaction=True)
    if url:
        pipe.hset(key, mapping={"callback": url, "ingesting": "1"})
    else:
        pipe.hdel(key, "callback", "ingesting")
    pipe.execute()


def stored(raw: str) -> Stored:
    """An event as the scripts wrote it."""
    return Stored.model_validate(json.loads(raw))
