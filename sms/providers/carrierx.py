"""CarrierX: `POST /core/v2/sms/messages` with `Authorization: Bearer <token>` (carrierx.txt).

Numbers go as digits without `+`, as in the document's examples. Our message id goes in
`user_data`, which CarrierX stores and returns in lookups and callbacks; there is no idempotency,
so a 5xx or an unreadable 2xx is `unknown`. 409 is documented as "resubmit later".
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sms.errors import Problem
from sms.message import Message
from sms.phone import digits_only, region_of
from sms.providers.base import (
    DELIVERY_STATUSES,
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
    says_opted_out,
)
from sms.providers.limits import Limits
from sms.settings import CarrierXAccount

PATH = "/core/v2/sms/messages"
MAX_CHARACTERS = 1600
MAX_MEDIA = 10
MAX_GROUP = 10
LIMITS = Limits(
    "CarrierX",
    MAX_CHARACTERS,
    max_media=MAX_MEDIA,
    media_field="media_urls",
    max_group=MAX_GROUP,
    sender_kind="a DID",
    body_unless_media="a message",
)
# "MMS to phone numbers outside the US is disabled": the US and its NANP territories.
MMS_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})

# Documented HTTP codes; anything else 4xx is rejected, 5xx unknown.
STATUS_KINDS: dict[int, OutcomeKind] = {
    400: OutcomeKind.REJECTED,  # malformed: do not repeat
    401: OutcomeKind.CONFIG_ERROR,  # bad credentials
    403: OutcomeKind.CONFIG_ERROR,  # forbidden (scopes sms.manage / sms.create)
    404: OutcomeKind.REJECTED,
    409: OutcomeKind.RETRYABLE,  # conflict: "resubmit later"
    415: OutcomeKind.REJECTED,  # not JSON
    422: OutcomeKind.REJECTED,  # validation
    429: OutcomeKind.RATE_LIMITED,  # not documented, but honoured if it comes
}
# A message the SMS object already reports as dead on arrival.
FAILED_STATUSES = frozenset({"failed", "undelivered"})


class CarrierXAdapter(Adapter[CarrierXAccount]):
    """Sends from a CarrierX partner's rented DIDs, SMS and (group) MMS."""

    kind = "carrierx"
    supports_mms = True
    idempotent_resend = False

    def validate(self, message: Message) -> list[Problem]:
        """Refuse what CarrierX would: a short-code sender, body and media limits, foreign MMS."""
        problems = LIMITS.problems(message)
        group = message.options.group_recipients
        if message.is_mms:
            for number in (message.to, *group):
                region = region_of(number)
                if region not in MMS_REGIONS:
                    field = "to" if number == message.to else "group_recipients"
                    problems.append(
                        Problem(
                            field, f"{region or 'non-geographic'} number; CarrierX MMS is US only"
                        )
                    )
                    break
        return problems

    def build_request(self, message: Message, *, receipt_url: str | None = None) -> Request:
        """The SMS object to create; receipts are per account or DID, so receipt_url is unused."""
        payload: dict[str, Any] = {
            "from": digits_only(message.sender),
            "to": digits_only(message.to),
        }
        if message.body or not message.media_urls:
            payload["message"] = message.body
        if message.media_urls:
            payload["media_urls"] = list(message.media_urls)
        if message.options.group_recipients:
            payload["group_recipients"] = [digits_only(n) for n in message.options.group_recipients]
            # "the message type must be set to mms" when group_recipients is not empty.
            payload["type"] = "mms"
        payload["user_data"] = message.id
        token = self.account.token.get_secret_value()
        return Request(
            method="POST",
            url=self.account.base_url.rstrip("/") + PATH,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            json=payload,
        )

    def parse_receipt(self, body: bytes, headers: Mapping[str, str]) -> Receipt | None:
        """This provider's delivery report (`parse_receipt` below, a pure function)."""
        return parse_receipt(body, headers)

    def parse_response(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        """Classify a CarrierX answer: the SMS object on 200, an HTTP code otherwise."""
        data = load_json(body)
        if 200 <= status < 300:
            sid = data.get("message_sid") if isinstance(data, dict) else None
            if not isinstance(data, dict) or not isinstance(sid, str) or not sid:
                return Outcome(OutcomeKind.UNKNOWN, f"HTTP {status} without a message_sid")
            segments = data.get("message_segments")
            segments = segments if isinstance(segments, int) else None
            state = str(data.get("status", "")).lower()
            if state in FAILED_STATUSES:
                return Outcome(OutcomeKind.REJECTED, f"status {state}", sid, segments=segments)
            return Outcome(OutcomeKind.ACCEPTED, provider_id=sid, segments=segments)

        text = _error_text(data)
        reason = f"HTTP {status}: {text}" if text else f"HTTP {status}"
        kind = STATUS_KINDS.get(status)
        if status == 404 and data is None:
            # No JSON error at all: the path itself is missing, so base_url is wrong.
            kind = OutcomeKind.CONFIG_ERROR
            reason = f"HTTP 404 at {PATH}: check base_url"
        if kind is None:
            kind = OutcomeKind.REJECTED if 400 <= status < 500 else OutcomeKind.UNKNOWN
        if kind is OutcomeKind.UNKNOWN and status >= 500:
            reason += " (may have been sent)"
        wait = None
        if kind in (OutcomeKind.RATE_LIMITED, OutcomeKind.RETRYABLE):
            wait = parse_retry_after(_header(headers, "retry-after"), now=time.time())
        opted_out = kind is OutcomeKind.REJECTED and says_opted_out(text)
        return Outcome(kind, reason, retry_after=wait, opted_out=opted_out)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _error_text(data: object) -> str:
    """The `errors` list the official SDK reads (field and message), else `message`."""
    if not isinstance(data, dict):
        return ""
    parts: list[str] = []
    errors = data.get("errors")
    if isinstance(errors, dict):
        errors = [errors]
    if isinstance(errors, list):
        for item in errors:
            if isinstance(item, dict):
                text = str(item.get("message") or item.get("reason") or "")
                field = item.get("field")
                parts.append(f"{field}: {text}" if field and text else text or str(item))
            elif item:
                parts.append(str(item))
    if not parts and isinstance(data.get("message"), str):
        parts.append(data["message"])
    return "; ".join(p for p in parts if p)[:200]


# Receipts: callbacks POST the SMS object. Documented statuses are queued, sent, delivered and
# received (inbound); failed and undelivered are inferred. Our id comes back in `user_data`.
RECEIPT_STATUSES = DELIVERY_STATUSES


def parse_receipt(body: bytes, headers: Mapping[str, str]) -> Receipt | None:
    """A CarrierX callback; None for an inbound message or a status we do not track."""
    data = receipt_object(body)
    provider_id = receipt_id(data.get("message_sid"), "message_sid")
    if str(data.get("direction") or "outbound").lower() != "outbound":
        return None
    state = str(data.get("status") or "").lower()
    status = RECEIPT_STATUSES.get(state)
    if status is None:
        return None
    user_data = data.get("user_data")
    our_id = user_data if isinstance(user_data, str) and user_data else None
    at = parse_time(data.get("date_status_changed"))
    return Receipt(status, provider_id, our_id, f"status {state}", at)
