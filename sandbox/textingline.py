"""TextingLine emulation: `POST /textingline/api/v1/messaging/message` with HTTP Basic auth."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from aiohttp import web

from sandbox.formats import E164_PLUS, base62_id, digits, is_http_url, iso
from sandbox.provider import Answer, Context, Draft, Provider
from sandbox.ratelimit import SlidingWindow
from sandbox.state import Message

MAX_BODY = 640
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9@\-_)(]{2,100}")
MORE_INFO = "https://docs.textingline.com/errors/{}"  # inferred URL

MAGIC_MESSAGES = {
    "opted_out": "The recipient has opted out from receiving messages from this sender.",
    "invalid_destination": "The destination number is invalid, unreachable, or not mobile.",
    "destination_blocked": "The destination number is blocked from receiving messages.",
}


def error(
    status: int,
    code: int,
    message: str,
    details: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """TextingLine's error envelope {code, message, status, moreInfo, details?}."""
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "status": status,
        "moreInfo": MORE_INFO.format(code),
    }
    if details:
        body["details"] = details
    return Answer(status, body, headers)


def detail(field: str, message: str) -> dict[str, str]:
    """One entry of `details` (shape inferred)."""
    return {"field": field, "message": message}


class TextingLine(Provider):
    """TextingLine messaging API v1."""

    name = "textingline"

    def add_routes(self, app: web.Application) -> None:
        """Register the send endpoint."""
        app.router.add_post("/textingline/api/v1/messaging/message", self.handle)

    def index_credentials(self, credentials: list[dict[str, str]]) -> dict[str, str]:
        """`key_id:key_secret` (decoded Basic credentials) maps to the key_id."""
        return {f"{c['key_id']}:{c['key_secret']}": c["key_id"] for c in credentials}

    def identify(self, request: web.Request) -> str | None:
        """HTTP Basic `key_id:key_secret`."""
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            pair = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return self.credentials.get(pair)

    def auth_failed(self, ctx: Context) -> Answer:
        """401, code 33001."""
        return error(401, 33001, "Authentication failed: invalid API key id or secret")

    def not_json(self, ctx: Context, reason: str) -> Answer:
        """400, code 33005 (inferred)."""
        if reason == "content_type":
            return error(400, 33005, "Request body must be JSON (Content-Type: application/json)")
        return error(400, 33005, "Request body must be a JSON object")

    def rate_limited(self, ctx: Context, win: SlidingWindow) -> Answer:
        """429, code 33002, with Retry-After (seconds)."""
        assert self.state.rate is not None
        retry = str(win.retry_after(ctx.now, self.state.rate))
        return error(429, 33002, "Rate limit exceeded", headers={"Retry-After": retry})

    def quota_exceeded(self, ctx: Context, win: SlidingWindow) -> Answer:
        """429, code 33012 (a quota, not a short backoff); Retry-After inferred."""
        assert self.state.quota is not None
        retry = str(win.retry_after(ctx.now, self.state.quota))
        return error(429, 33012, "Daily message quota exceeded", headers={"Retry-After": retry})

    def server_error(self, ctx: Context) -> Answer:
        """500, code 33007 (send failed, retry)."""
        return error(500, 33007, "Message send failed, please retry")

    def headers(self, ctx: Context) -> dict[str, str] | None:
        """X-RateLimit-Limit/-Remaining/-Reset on every response."""
        limit, remaining, reset = self.limit_values(ctx, "rate")
        return {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }

    def validate(self, ctx: Context, payload: dict[str, Any]) -> Draft | Answer:
        """to/from E.164; body <= 640 (optional with mediaUrl); idempotencyKey format."""
        to, sender = payload.get("to"), payload.get("from")
        body, media = payload.get("body"), payload.get("mediaUrl")
        missing = [f for f, v in (("to", to), ("from", sender)) if v is None or v == ""]
        if (body is None or body == "") and media is None:
            missing.append("body")
        if missing:
            details = [detail(f, "is required") for f in missing]
            return error(400, 33005, f"Missing required field: {', '.join(missing)}", details)
        bad = [f for f, v in (("to", to), ("from", sender)) if not _e164(v)]
        if bad:
            details = [detail(f, "must be E.164, e.g. +18005551234") for f in bad]
            return error(400, 33003, "Invalid phone number", details)
        assert isinstance(to, str) and isinstance(sender, str)
        invalid: list[dict[str, str]] = []
        if body is not None and not isinstance(body, str):
            invalid.append(detail("body", "must be a string"))
        elif body is not None and len(body) > MAX_BODY:
            invalid.append(detail("body", f"must be at most {MAX_BODY} characters"))
        if media is not None and not is_http_url(media):
            invalid.append(detail("mediaUrl", "must be a publicly accessible http(s) URL"))
        key = payload.get("idempotencyKey")
        if key is not None and not (isinstance(key, str) and IDEMPOTENCY_KEY.fullmatch(key)):
            invalid.append(detail("idempotencyKey", "must be 2-100 of A-Z a-z 0-9 @ - _ ) ("))
        if invalid:
            return error(400, 33005, "Invalid request field", invalid)
        senders = self.state.senders
        if senders is not None and digits(sender) not in senders:
            return error(403, 33004, "The from number is not assigned to your account")
        return Draft(to, sender, body or "", [media] if isinstance(media, str) else [])

    def replay(self, ctx: Context, payload: dict[str, Any]) -> Answer | None:
        """The original answer for a repeated idempotencyKey of the same API key."""
        key = payload.get("idempotencyKey")
        if key is None:
            return None
        stored: Answer | None = self.state.idempotency.get((ctx.identity, key))
        return stored

    def _remember(self, ctx: Context, answer: Answer) -> None:
        assert ctx.payload is not None
        key = ctx.payload.get("idempotencyKey")
        if key is not None:
            self.state.idempotency[(ctx.identity, key)] = answer

    def _object(self, ctx: Context, draft: Draft, status: str) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "id": base62_id("msg_"),
            "direction": "outbound",
            "to": draft.to,
            "from": draft.sender,
        }
        if draft.body:
            obj["body"] = draft.body
        if draft.media:
            obj["mediaUrl"] = draft.media[0]
        obj["status"] = status
        return obj

    def magic(self, ctx: Context, draft: Draft, kind: str) -> Answer:
        """201 with status failed, errorType and errorMessage, no sentAt (documented)."""
        obj = self._object(ctx, draft, "failed")
        obj.update(errorType=kind, errorMessage=MAGIC_MESSAGES[kind], createdAt=iso(ctx.now))
        answer = Answer(201, obj)
        self._remember(ctx, answer)
        return answer

    def accept(self, ctx: Context, draft: Draft) -> tuple[Message, Answer]:
        """201 with the message object, status sent."""
        obj = self._object(ctx, draft, "sent")
        stamp = iso(ctx.now)
        obj.update(sentAt=stamp, createdAt=stamp)
        answer = Answer(201, obj)
        self._remember(ctx, answer)
        assert ctx.payload is not None
        msg = Message(
            self.name,
            ctx.identity,
            obj["id"],
            draft.to,
            draft.sender,
            draft.body,
            draft.media,
            ctx.now,
            ctx.payload,
            obj,
        )
        return msg, answer

    def set_status(self, msg: Message, status: str) -> None:
        """Update the message object; failures get errorType unknown (inferred)."""
        msg.status = status
        msg.obj["status"] = status
        if status in ("failed", "undelivered"):
            msg.obj.update(errorType="unknown", errorMessage=f"The carrier reported {status}.")
        else:
            msg.obj.pop("errorType", None)
            msg.obj.pop("errorMessage", None)

    def receipt_payload(self, msg: Message, status: str) -> dict[str, Any]:
        """Webhook event `messaging.outgoing.message.<status>` wrapping the message (inferred)."""
        return {"type": f"messaging.outgoing.message.{status}", "data": dict(msg.obj)}


def _e164(value: object) -> bool:
    return isinstance(value, str) and E164_PLUS.fullmatch(value) is not None
