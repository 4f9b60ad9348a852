"""TextingLine: `POST /api/v1/messaging/message` with HTTP Basic key_id:key_secret.

Every request carries an `idempotencyKey` made from our message id: a repeat returns the original
answer and the same `msg_` id, so a resend after a timeout or a 5xx cannot send twice. A
delivery-level failure is a 201 with `status: failed` and an `errorType`, not an HTTP error; a
request-level error is the envelope `{code, message, status, moreInfo}` (textingline.txt, NOTES.md).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any, Literal

from sms.errors import Problem
from sms.message import Message, Status
from sms.providers.base import (
    DELIVERY_STATUSES,
    Adapter,
    BadReceipt,
    Outcome,
    OutcomeKind,
    RateSignal,
    Receipt,
    Request,
    load_json,
    parse_count,
    parse_reset,
    parse_retry_after,
    parse_time,
    receipt_id,
    receipt_object,
)
from sms.providers.limits import Limits
from sms.settings import TextingLineAccount

PATH = "/api/v1/messaging/message"
MAX_CHARACTERS = 640
LIMITS = Limits(
    "TextingLine", MAX_CHARACTERS, max_media=1, media_field="mediaUrl", body_unless_media="a body"
)
KEY_PREFIX = "salvo-"
KEY_PATTERN = re.compile(r"[A-Za-z0-9@\-_)(]{2,100}")
RATE_WINDOW = 60.0  # 60 requests per 60 s per API key on this endpoint

# The error envelope's codes (NOTES.md and the spec's "Common errors").
CODE_KINDS: dict[int, OutcomeKind] = {
    33000: OutcomeKind.RETRYABLE,  # unexpected error (500)
    33001: OutcomeKind.CONFIG_ERROR,  # authentication failed (401)
    33002: OutcomeKind.RATE_LIMITED,  # rate limit exceeded (429, Retry-After)
    33003: OutcomeKind.REJECTED,  # invalid phone number
    33004: OutcomeKind.CONFIG_ERROR,  # from number not assigned to the account
    33005: OutcomeKind.REJECTED,  # missing field
    33007: OutcomeKind.RETRYABLE,  # send failed, retry (500)
    33009: OutcomeKind.CONFIG_ERROR,  # from number not active
    33010: OutcomeKind.REJECTED,  # recipient blocked
    33011: OutcomeKind.CONFIG_ERROR,  # sender blocked
    33012: OutcomeKind.QUOTA_EXHAUSTED,  # daily quota (429)
    33014: OutcomeKind.REJECTED,  # media over 1 MB
    33015: OutcomeKind.REJECTED,  # media type not supported
    33016: OutcomeKind.REJECTED,  # unsupported characters in the body
    33017: OutcomeKind.REJECTED,  # media download failed
    33018: OutcomeKind.REJECTED,  # media URL failed security validation
    33019: OutcomeKind.REJECTED,  # compliance violation
    33020: OutcomeKind.CONFIG_ERROR,  # account not configured
    33021: OutcomeKind.CONFIG_ERROR,  # user not active
    33022: OutcomeKind.CONFIG_ERROR,  # API not enabled
    33023: OutcomeKind.CONFIG_ERROR,  # insufficient credits
}
#: The config errors that concern the sender number only: that sender is held, not the account.
SENDER_CODES = frozenset({33004, 33009, 33011})

# `status: failed` answers by errorType; any other errorType is rejected. platform_error and
# provider_error are transient in nature, but a resend carries the same idempotencyKey and the
# document says a repeat returns the original answer: retrying would only replay this failure.
# They are therefore final here (rejected), with the provider's reason.
ERROR_TYPE_KINDS: dict[str, OutcomeKind] = {
    "invalid_sender": OutcomeKind.CONFIG_ERROR,  # every message from this sender fails
}


def idempotency_key(message_id: str) -> str:
    """Our message id as a TextingLine idempotencyKey (2-100 of A-Za-z0-9@-_)( ), stable."""
    key = KEY_PREFIX + message_id
    if KEY_PATTERN.fullmatch(key):
        return key
    return KEY_PREFIX + hashlib.sha256(message_id.encode()).hexdigest()[:40]


class TextingLineAdapter(Adapter[TextingLineAccount]):
    """Sends through a TextingLine API key; resends are safe thanks to the idempotencyKey."""

    kind = "textingline"
    supports_mms = True
    idempotent_resend = True

    def validate(self, message: Message) -> list[Problem]:
        """Refuse what TextingLine would: a short-code sender, the body limit, extra media."""
        return LIMITS.problems(message)

    def build_request(self, message: Message, *, receipt_url: str | None = None) -> Request:
        """The document's JSON; receipts are account webhooks, so receipt_url is unused."""
        payload: dict[str, Any] = {"to": message.to, "from": message.sender}
        if message.body:
            payload["body"] = message.body
        if message.media_urls:
            payload["mediaUrl"] = message.media_urls[0]
        payload["idempotencyKey"] = idempotency_key(message.id)
        pair = f"{self.account.key_id}:{self.account.key_secret.get_secret_value()}"
        basic = base64.b64encode(pair.encode()).decode("ascii")
        return Request(
            method="POST",
            url=self.account.base_url.rstrip("/") + PATH,
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
            json=payload,
        )

    def parse_receipt(self, body: bytes, headers: Mapping[str, str]) -> Receipt | None:
        """This provider's delivery report (`parse_receipt` below, a pure function)."""
        return parse_receipt(body, headers)

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Classify a TextingLine answer: the message object on 2xx, else the error envelope."""
        now = time.time()
        h = {k.lower(): v for k, v in headers.items()}
        signal = _signal(h, now)
        data = load_json(body)
        if not isinstance(data, dict):
            data = {}

        if 200 <= status < 300:
            msg_id = data.get("id")
            state = str(data.get("status", "")).lower()
            if (
                not isinstance(msg_id, str)
                or not msg_id
                or state not in {"sent", "queued", "failed"}
            ):
                return Outcome(
                    OutcomeKind.UNKNOWN,
                    f"HTTP {status} without a message id and status",
                    signal=signal,
                )
            if state != "failed":
                return Outcome(OutcomeKind.ACCEPTED, provider_id=msg_id, signal=signal)
            error_type = str(data.get("errorType") or "unknown")
            text = str(data.get("errorMessage") or "")[:200]
            kind = ERROR_TYPE_KINDS.get(error_type, OutcomeKind.REJECTED)
            reason = f"{error_type}: {text}" if text else error_type
            opted_out = error_type == "opted_out"
            scope: Literal["account", "sender"] = (
                "sender" if error_type == "invalid_sender" else "account"
            )
            return Outcome(kind, reason, msg_id, signal=signal, opted_out=opted_out, scope=scope)

        code = _code(data.get("code"))
        text = str(data.get("message") or "")[:200]
        reason = f"{code} {text}".strip() if code is not None else f"HTTP {status} {text}".strip()
        known = CODE_KINDS.get(code) if code is not None else None
        kind = known if known is not None else _status_kind(status)
        wait = None
        if kind is OutcomeKind.RATE_LIMITED:
            wait = parse_retry_after(h.get("retry-after"), now=now)
            if wait is None:
                wait = parse_reset(h.get("x-ratelimit-reset"), now=now, cap=3600.0)
        elif kind is OutcomeKind.QUOTA_EXHAUSTED:
            # X-RateLimit-* describe the 60-per-60-s limit, not the daily quota: their reset
            # would have us knock again within the minute. Only Retry-After speaks for the quota.
            wait = parse_retry_after(h.get("retry-after"), now=now, cap=2 * 86400.0)
        elif kind is OutcomeKind.RETRYABLE:
            wait = parse_retry_after(h.get("retry-after"), now=now)
        scope = "sender" if code in SENDER_CODES else "account"
        return Outcome(kind, reason, retry_after=wait, signal=signal, scope=scope)


def _status_kind(status: int) -> OutcomeKind:
    """What an answer without a known code means, from its HTTP status alone."""
    if status in (401, 403, 404):  # credentials, or a base_url that is not TextingLine's
        return OutcomeKind.CONFIG_ERROR
    if status == 429:
        return OutcomeKind.RATE_LIMITED
    if status == 408 or status >= 500:  # safe to resend: the idempotencyKey dedups it
        return OutcomeKind.RETRYABLE
    if 400 <= status < 500:
        return OutcomeKind.REJECTED
    return OutcomeKind.UNKNOWN


def _code(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _signal(h: Mapping[str, str], now: float) -> RateSignal | None:
    limit = parse_count(h.get("x-ratelimit-limit"))
    remaining = parse_count(h.get("x-ratelimit-remaining"))
    if limit is None and remaining is None:
        return None
    wait = parse_reset(h.get("x-ratelimit-reset"), now=now)
    return RateSignal(limit, remaining, now + wait if wait is not None else None, RATE_WINDOW)


# Receipts: webhook events `messaging.outgoing.message.<status>` wrapping the message object
# (the payload is inferred: NOTES.md). An `idempotencyKey` echoed in it names our id.
RECEIPT_EVENT = "messaging.outgoing.message."
RECEIPT_STATUSES = DELIVERY_STATUSES


def parse_receipt(body: bytes, headers: Mapping[str, str]) -> Receipt | None:
    """A TextingLine webhook event; None for other events and for `queued`."""
    data = receipt_object(body)
    event, obj = data.get("type"), data.get("data")
    if not isinstance(event, str) or not isinstance(obj, dict):
        raise BadReceipt("no type and data")
    if not event.startswith(RECEIPT_EVENT):
        return None
    provider_id = receipt_id(obj.get("id"), "data.id")
    state = event[len(RECEIPT_EVENT) :]
    status = RECEIPT_STATUSES.get(state)
    if status is None:
        return None
    reason = state
    if status in (Status.FAILED, Status.UNDELIVERED) and obj.get("errorType"):
        reason = f"{state}: {obj['errorType']}"
    key = obj.get("idempotencyKey")
    our_id = key[len(KEY_PREFIX) :] if isinstance(key, str) and key.startswith(KEY_PREFIX) else None
    at = parse_time(obj.get("updatedAt") or obj.get("deliveredAt"))
    event_id = data.get("id")  # the event envelope's id, where the webhook carries one
    event_id = event_id if isinstance(event_id, str) and event_id else None
    return Receipt(status, provider_id, our_id or None, reason, at, event_id)
