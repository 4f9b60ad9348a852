"""Skycore: `sendsms` posted as JSON to the account's own endpoint URL with `x-api-key`.

The body decides, not the HTTP status: a failure is `{"status": "Failure", "error-code": ...}`,
most likely with HTTP 200 (skycore.txt, NOTES.md). Numbers go as international digits without
`+`, short codes as given. There is no idempotency, so an unreadable answer is `unknown`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Literal

from sms.encoding import segment_info
from sms.errors import Problem
from sms.message import SHORT_CODE, Message, Status
from sms.phone import digits_only, region_of
from sms.providers.base import (
    Adapter,
    Outcome,
    OutcomeKind,
    Receipt,
    Request,
    load_json,
    parse_retry_after,
    parse_time,
    receipt_id,
    receipt_object,
)
from sms.providers.limits import Limits
from sms.settings import SkycoreAccount

MAX_MASK = 11  # the document cuts longer masks; we refuse them so no brand is truncated
# The document sets no total length but bills every concatenated part: cap it where a
# longer text is almost surely a mistake (10 parts: 1,530 GSM-7 or 670 UCS-2 characters).
MAX_SEGMENTS = 10
LIMITS = Limits("Skycore", None, max_media=0, media_field="", short_code_sender=True, mask=True)

# The v1.3 error table, reused by v2 (NOTES.md). Codes not listed are rejected.
ERROR_KINDS: dict[str, OutcomeKind] = {
    "E100": OutcomeKind.REJECTED,  # bad request
    "E101": OutcomeKind.REJECTED,  # bad action
    "E102": OutcomeKind.CONFIG_ERROR,  # E102-E105, E107, E109: credentials or API rights
    "E103": OutcomeKind.CONFIG_ERROR,
    "E104": OutcomeKind.CONFIG_ERROR,
    "E105": OutcomeKind.CONFIG_ERROR,
    "E106": OutcomeKind.RATE_LIMITED,  # calls too frequent; no wait given, backoff decides
    "E107": OutcomeKind.CONFIG_ERROR,
    "E109": OutcomeKind.CONFIG_ERROR,
    "E110": OutcomeKind.REJECTED,  # invalid receiver
    "E111": OutcomeKind.CONFIG_ERROR,  # invalid sender (SENDER_CODES)
    "E120": OutcomeKind.QUOTA_EXHAUSTED,  # request limit reached
    "E201": OutcomeKind.REJECTED,  # receiver required
    "E503": OutcomeKind.RETRYABLE,  # internal error
    "E626": OutcomeKind.RETRYABLE,  # content not ready
    "E628": OutcomeKind.REJECTED,  # operator not supported
    "E712": OutcomeKind.REJECTED,  # text required
    "E713": OutcomeKind.CONFIG_ERROR,  # billing problem
    "E714": OutcomeKind.REJECTED,  # invalid campaign
    "E715": OutcomeKind.REJECTED,  # number not subscribed to the campaign
}
#: Failures that mean the recipient is not to be texted (E715, not subscribed to the campaign:
#: how a short-code STOP shows), which put the number on the suppression list.
OPTED_OUT_CODES = frozenset({"E715"})
#: The config errors that concern the sender number only: that sender is held, not the account.
SENDER_CODES = frozenset({"E111"})


class SkycoreAdapter(Adapter[SkycoreAccount]):
    """Sends SMS (no MMS here) from a Skycore short code or long number, optionally masked."""

    kind = "skycore"
    supports_mms = False
    idempotent_resend = False

    def _mask(self, message: Message) -> str | None:
        return message.options.from_mask or self.account.from_mask

    def validate(self, message: Message) -> list[Problem]:
        """Refuse what Skycore would: media, an empty or over-long text, a mask it would cut."""
        problems = LIMITS.problems(message)
        if not message.body:
            problems.append(Problem("body", "empty; Skycore requires message-text"))
        else:
            segments = segment_info(message.body).segments
            if segments > MAX_SEGMENTS:
                problems.append(
                    Problem("body", f"{segments} segments; Salvo sends at most 10 through Skycore")
                )
        mask = self._mask(message)
        if mask:
            if len(mask) > MAX_MASK:
                problems.append(
                    Problem("from_mask", f"{len(mask)} characters; Skycore allows at most 11")
                )
            if region_of(message.to) == "US":
                problems.append(Problem("from_mask", "not supported for US recipients"))
        return problems

    def build_request(self, message: Message, *, receipt_url: str | None = None) -> Request:
        """The `sendsms` JSON; postbacks go to an account-level URL, so receipt_url is unused."""
        sender = message.sender
        payload: dict[str, Any] = {
            "action": "sendsms",
            "message-text": message.body,
            "to": digits_only(message.to),
            "from": sender if SHORT_CODE.match(sender) else digits_only(sender),
        }
        mask = self._mask(message)
        if mask:
            payload["from-mask"] = mask
        campaign = message.options.campaign_ref or self.account.campaign_ref
        if campaign:
            payload["campaign-ref"] = campaign
        if message.options.click_tracking is not None:
            payload["click-tracking"] = message.options.click_tracking
        return Request(
            method="POST",
            url=self.account.endpoint_url,
            headers={"x-api-key": self.account.api_key.get_secret_value()},
            json=payload,
        )

    def parse_receipt(self, body: bytes, headers: Mapping[str, str]) -> Receipt | None:
        """This provider's delivery report (`parse_receipt` below, a pure function)."""
        return parse_receipt(body, headers)

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Classify by the body's `status` and `error-code`; the HTTP status only without one."""
        data = load_json(body)
        state = str(data.get("status", "")).lower() if isinstance(data, dict) else ""
        if isinstance(data, dict) and state == "success":
            tracking = data.get("tracking-id")
            if isinstance(tracking, str | int) and str(tracking):
                return Outcome(OutcomeKind.ACCEPTED, provider_id=str(tracking))
            return Outcome(OutcomeKind.UNKNOWN, "Success without a tracking-id")
        if isinstance(data, dict) and state == "failure":
            code = str(data.get("error-code") or "").strip().upper()
            info = str(data.get("error-info") or "")[:200]
            reason = f"{code} {info}".strip() or "Failure without an error-code"
            kind = ERROR_KINDS.get(code, OutcomeKind.REJECTED)
            scope: Literal["account", "sender"] = "sender" if code in SENDER_CODES else "account"
            return Outcome(kind, reason, opted_out=code in OPTED_OUT_CODES, scope=scope)

        # No Skycore answer in the body: only the HTTP status is left to go on.
        if status in (401, 403):
            return Outcome(OutcomeKind.CONFIG_ERROR, f"HTTP {status}: check api_key")
        if status == 404:
            return Outcome(OutcomeKind.CONFIG_ERROR, "HTTP 404: check endpoint_url")
        if status == 429:
            wait = parse_retry_after(_header(headers, "retry-after"), now=time.time())
            return Outcome(OutcomeKind.RATE_LIMITED, "HTTP 429", retry_after=wait)
        if 400 <= status < 500:
            return Outcome(OutcomeKind.REJECTED, f"HTTP {status} without a Skycore answer")
        return Outcome(OutcomeKind.UNKNOWN, f"HTTP {status} without a Skycore answer")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


# Postbacks (documented): `origin` SMS_MT for our messages, `code` N201 Sent, N202 Delivered,
# E201 Failed, E202 Rejected (by the carrier: not delivered), the message by `tracking-id`.
POSTBACK_CODES: dict[str, Status] = {
    "N201": Status.SENT,
    "N202": Status.DELIVERED,
    "E201": Status.FAILED,
    "E202": Status.UNDELIVERED,
}


def parse_receipt(body: bytes, headers: Mapping[str, str]) -> Receipt | None:
    """A Skycore postback; None for other origins (inbound) and codes we do not track."""
    data = receipt_object(body)
    if str(data.get("origin") or "SMS_MT").upper() != "SMS_MT":
        return None
    provider_id = receipt_id(data.get("tracking-id"), "tracking-id")
    code = str(data.get("code") or "").strip().upper()
    status = POSTBACK_CODES.get(code)
    if status is None:
        return None
    reason = f"{code} {data.get('status') or ''}".strip()
    return Receipt(status, provider_id, reason=reason, at=parse_time(data.get("timestamp")))
