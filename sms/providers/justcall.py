"""JustCall: `POST /v2/texts/send` with `Authorization: {api_key}:{api_secret}` (justcall.txt).

JustCall offers no idempotency and echoes none of our ids, so a 5xx or an unreadable 2xx is
`unknown`: it may have been sent. Its rate-limit headers come on every answer; a 429 with the
hourly counter at zero is the hourly cap (quota), otherwise the per-minute burst.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from sms.encoding import Encoding, segment_info
from sms.errors import Problem
from sms.message import Message
from sms.providers.base import (
    DELIVERY_STATUSES,
    Adapter,
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
    says_opted_out,
)
from sms.providers.limits import Limits
from sms.settings import JustCallAccount

PATH = "/v2/texts/send"
MAX_CHARACTERS = 1600
# The document's concatenation caps in its own arithmetic (160 or 70 a segment): GSM-7 is
# 1,600 characters (10 segments), the character cap itself; Unicode is 1,120 (16 segments),
# counted in UTF-16 units since that is what a UCS-2 segment holds.
MAX_UCS2_UNITS = 1120
LIMITS = Limits("JustCall", MAX_CHARACTERS, max_media=1, media_field="media_url")

# Documented error codes (justcall.txt). 404 is "from number not found or not SMS-enabled":
# every message from that sender fails, so it pauses the account instead of burning messages.
STATUS_KINDS: dict[int, OutcomeKind] = {
    400: OutcomeKind.REJECTED,  # missing from, to or body
    401: OutcomeKind.CONFIG_ERROR,
    403: OutcomeKind.CONFIG_ERROR,
    404: OutcomeKind.CONFIG_ERROR,  # from number not found or not SMS-enabled
    422: OutcomeKind.REJECTED,  # body over the character limit
}


class JustCallAdapter(Adapter[JustCallAccount]):
    """Sends through a JustCall account's SMS-enabled numbers."""

    kind = "justcall"
    supports_mms = True
    idempotent_resend = False

    def validate(self, message: Message) -> list[Problem]:
        """Refuse what JustCall would: its body limits, one media URL, a short-code sender."""
        problems = LIMITS.problems(message)
        body = message.body
        if not body:
            # The document makes body required for MMS too (400 "Missing from, to, or body").
            problems.append(Problem("body", "empty; JustCall requires a body, even with media"))
        elif len(body) <= MAX_CHARACTERS:
            info = segment_info(body)
            if info.encoding is Encoding.UCS2 and info.units > MAX_UCS2_UNITS:
                problems.append(
                    Problem(
                        "body",
                        f"{info.units:,} UCS-2 units (not GSM-7); JustCall allows at most 1,120"
                        " (16 segments)",
                    )
                )
        return problems

    def build_request(self, message: Message, *, receipt_url: str | None = None) -> Request:
        """The document's JSON: from, to, body, media_url and webhook_url when there are any."""
        payload: dict[str, Any] = {
            "from": message.sender,
            "to": message.to,
            "body": message.body,
        }
        if message.media_urls:
            payload["media_url"] = message.media_urls[0]
        webhook = receipt_url or self.account.webhook_url
        if webhook:
            payload["webhook_url"] = webhook
        key = self.account.api_key.get_secret_value()
        secret = self.account.api_secret.get_secret_value()
        return Request(
            method="POST",
            url=self.account.base_url.rstrip("/") + PATH,
            headers={"Authorization": f"{key}:{secret}", "Accept": "application/json"},
            json=payload,
        )

    def parse_receipt(self, body: bytes, headers: Mapping[str, str]) -> Receipt | None:
        """This provider's delivery report (`parse_receipt` below, a pure function)."""
        return parse_receipt(body, headers)

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Classify a JustCall answer; the rate-limit headers ride along as a RateSignal."""
        now = time.time()
        h = {k.lower(): v for k, v in headers.items()}
        signal = _signal(h, now)
        data = load_json(body)
        text = _error_text(data)

        if 200 <= status < 300:
            if isinstance(data, dict) and str(data.get("status", "")).lower() == "success":
                inner = data.get("data")
                msg_id = inner.get("message_id") if isinstance(inner, dict) else None
                if isinstance(msg_id, str | int) and str(msg_id):
                    return Outcome(OutcomeKind.ACCEPTED, provider_id=str(msg_id), signal=signal)
            why = f": {text}" if text else ""
            return Outcome(
                OutcomeKind.UNKNOWN, f"HTTP {status} without a message_id{why}", signal=signal
            )
        reason = f"HTTP {status}: {text}" if text else f"HTTP {status}"
        if status == 429:
            if h.get("x-rate-limit-remaining", "").strip() == "0":
                wait = parse_reset(h.get("x-rate-limit-reset"), now=now)
                return Outcome(
                    OutcomeKind.QUOTA_EXHAUSTED,
                    f"{reason} (hourly cap reached)",
                    retry_after=wait,
                    signal=signal,
                )
            wait = parse_reset(h.get("x-rate-limit-burst-reset"), now=now, cap=3600.0)
            if wait is None:
                wait = parse_retry_after(h.get("retry-after"), now=now)
            return Outcome(OutcomeKind.RATE_LIMITED, reason, retry_after=wait, signal=signal)
        if status >= 500:
            return Outcome(OutcomeKind.UNKNOWN, f"{reason} (may have been sent)", signal=signal)
        kind = STATUS_KINDS.get(status)
        if kind is None:
            kind = OutcomeKind.REJECTED if 400 <= status < 500 else OutcomeKind.UNKNOWN
        opted_out = kind is OutcomeKind.REJECTED and says_opted_out(text)
        # 404: the from number is not found or not SMS-enabled; the account's others still work.
        scope: Literal["account", "sender"] = "sender" if status == 404 else "account"
        return Outcome(kind, reason, signal=signal, opted_out=opted_out, scope=scope)


def _signal(h: Mapping[str, str], now: float) -> RateSignal | None:
    """The binding one of JustCall's two limits: the burst (per minute) or the hourly cap."""
    pairs = []
    for prefix, window in (("x-rate-limit-burst-", 60.0), ("x-rate-limit-", 3600.0)):
        limit = parse_count(h.get(prefix + "limit"))
        remaining = parse_count(h.get(prefix + "remaining"))
        wait = parse_reset(h.get(prefix + "reset"), now=now)
        if limit is not None or remaining is not None:
            reset_at = now + wait if wait is not None else None
            pairs.append(RateSignal(limit, remaining, reset_at, window))
    if not pairs:
        return None
    # Fewer requests left binds harder; on a tie the burst (listed first) wins.
    return min(pairs, key=lambda s: s.remaining if s.remaining is not None else 1 << 30)


def _error_text(data: object) -> str:
    """The human part of an (undocumented) JustCall error body, kept short."""
    if not isinstance(data, dict):
        return ""
    for key in ("message", "error", "errors", "detail"):
        value = data.get(key)
        if isinstance(value, list):
            value = "; ".join(str(v) for v in value)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value:
            return value[:200]
    return ""


# Receipts. The per-message webhook (justcall.txt) posts {message_id, status, to, from, timestamp};
# account-level webhooks post {request_id, webhook_url, url_id, type, data: <SMS object>}, the
# status in data.delivery_status, signed in x-justcall-signature (NOTES.md).
RECEIPT_STATUSES = DELIVERY_STATUSES
SIGNATURE_HEADER = "x-justcall-signature"
TIMESTAMP_HEADER = "x-justcall-request-timestamp"


def parse_receipt(body: bytes, headers: Mapping[str, str]) -> Receipt | None:
    """A JustCall receipt of either shape; None for one that reports nothing we track."""
    data = receipt_object(body)
    event = data.get("data")
    if isinstance(data.get("type"), str) and isinstance(event, dict):
        if not str(data["type"]).startswith("sms"):
            return None
        if str(event.get("direction", "outgoing")).lower() not in ("outgoing", "outbound"):
            return None
        state = str(event.get("delivery_status") or "").lower()
        status = RECEIPT_STATUSES.get(state)
        if status is None:
            return None
        at = parse_time(_header(headers, TIMESTAMP_HEADER))
        request_id = data.get("request_id")
        return Receipt(
            status,
            receipt_id(event.get("id"), "data.id"),
            reason=state,
            at=at,
            event=str(request_id) if isinstance(request_id, str | int) and request_id else None,
        )
    provider_id = receipt_id(data.get("message_id"), "message_id")
    state = str(data.get("status") or "").lower()
    status = RECEIPT_STATUSES.get(state)
    if status is None:
        return None
    return Receipt(status, provider_id, reason=state, at=parse_time(data.get("timestamp")))


def signature(api_secret: str, webhook_url: str, event_type: str, timestamp: str) -> str:
    """JustCall's webhook signature: hex HMAC-SHA256 by the API secret over
    `secret|urlencoded(webhook_url)|type|timestamp`."""
    payload = f"{api_secret}|{quote(webhook_url, safe='')}|{event_type}|{timestamp}"
    return hmac.new(api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signature_valid(api_secret: str, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether a webhook carries a signature made with `api_secret` (constant-time compare)."""
    given = _header(headers, SIGNATURE_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    data = load_json(body)
    if not given or timestamp is None or not isinstance(data, dict):
        return False
    url, kind = data.get("webhook_url"), data.get("type")
    if not isinstance(url, str) or not isinstance(kind, str):
        return False
    expected = signature(api_secret, url, kind, timestamp)
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)
