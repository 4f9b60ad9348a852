"""JustCall emulation: `POST /justcall/v2/texts/send`, raw `Authorization: {key}:{secret}`."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from sandbox.formats import E164_PLUS, digits, hex_id, is_gsm, is_http_url, iso, utf16_units
from sandbox.provider import Answer, Context, Draft, Provider
from sandbox.ratelimit import SlidingWindow
from sandbox.state import Message

MAX_GSM_CHARS = 1600  # documented: body up to 1,600 characters (10 GSM-7 segments)
MAX_UNICODE_CHARS = 1120  # documented: 16 Unicode segments of 70

MAGIC_MESSAGES = {
    "opted_out": "Recipient has opted out of messages from this number",
    "invalid_destination": "Invalid destination number",
    "destination_blocked": "Destination number is blocked",
}


def error(status: int, message: str) -> Answer:
    """JustCall's error body (undocumented; inferred shape)."""
    return Answer(status, {"status": "error", "message": message})


class JustCall(Provider):
    """JustCall v2 texts API."""

    name = "justcall"

    def add_routes(self, app: web.Application) -> None:
        """Register the send endpoint."""
        app.router.add_post("/justcall/v2/texts/send", self.handle)

    def index_credentials(self, credentials: list[dict[str, str]]) -> dict[str, str]:
        """The raw header value `api_key:api_secret` maps to the api_key."""
        return {f"{c['api_key']}:{c['api_secret']}": c["api_key"] for c in credentials}

    def identify(self, request: web.Request) -> str | None:
        """Exact match of the raw Authorization header (not Basic, not Base64)."""
        header = request.headers.get("Authorization")
        return None if header is None else self.credentials.get(header.strip())

    def auth_failed(self, ctx: Context) -> Answer:
        """401 (not in JustCall's error table; inferred)."""
        return error(401, "Invalid API credentials: use Authorization: {api_key}:{api_secret}")

    def not_json(self, ctx: Context, reason: str) -> Answer:
        """400 for a non-JSON content type or body."""
        if reason == "content_type":
            return error(400, "Content-Type must be application/json")
        return error(400, "Request body must be a JSON object")

    def rate_limited(self, ctx: Context, win: SlidingWindow) -> Answer:
        """429; the X-Rate-Limit-Burst-* headers carry the signal."""
        return error(429, "Rate limit exceeded: too many requests per minute")

    def quota_exceeded(self, ctx: Context, win: SlidingWindow) -> Answer:
        """429; X-Rate-Limit-Remaining is 0 and X-Rate-Limit-Reset says when it frees."""
        return error(429, "Rate limit exceeded: hourly request limit reached")

    def server_error(self, ctx: Context) -> Answer:
        """500 or 503 at random."""
        if self.state.rng.random() < 0.5:
            return error(500, "Internal server error")
        return error(503, "Service temporarily unavailable")

    def headers(self, ctx: Context) -> dict[str, str] | None:
        """The six documented X-Rate-Limit-* headers, on every response."""
        limit, remaining, reset = self.limit_values(ctx, "quota")
        burst, burst_remaining, burst_reset = self.limit_values(ctx, "rate")
        return {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str(reset),
            "X-Rate-Limit-Burst-Limit": str(burst),
            "X-Rate-Limit-Burst-Remaining": str(burst_remaining),
            "X-Rate-Limit-Burst-Reset": str(burst_reset),
        }

    def validate(self, ctx: Context, payload: dict[str, Any]) -> Draft | Answer:
        """from/to/body required; E.164 with `+`; body within the documented caps."""
        missing = [f for f in ("from", "to", "body") if not _text(payload.get(f))]
        if missing:
            return error(400, f"Missing required field(s): {', '.join(missing)}")
        sender: str = payload["from"]
        to: str = payload["to"]
        body: str = payload["body"]
        for field, number in (("from", sender), ("to", to)):
            if not E164_PLUS.fullmatch(number):
                return error(400, f"Invalid '{field}' number: use E.164 format, e.g. +14155559876")
        for field in ("media_url", "webhook_url"):
            value = payload.get(field)
            if value is not None and not is_http_url(value):
                return error(400, f"Invalid '{field}': expected a public http(s) URL")
        senders = self.state.senders
        if senders is not None and digits(sender) not in senders:
            return error(404, "from number not found or not SMS-enabled")
        if len(body) > MAX_GSM_CHARS:
            return error(422, "Message body exceeds character limit (1,600 characters)")
        if not is_gsm(body) and utf16_units(body) > MAX_UNICODE_CHARS:
            return error(422, "Message body exceeds character limit (1,120 Unicode characters)")
        media_url = payload.get("media_url")
        return Draft(to, sender, body, [media_url] if media_url else [])

    def magic(self, ctx: Context, draft: Draft, kind: str) -> Answer:
        """422 with a message (JustCall documents nothing here; inferred)."""
        return error(422, MAGIC_MESSAGES[kind])

    def accept(self, ctx: Context, draft: Draft) -> tuple[Message, Answer]:
        """200 with the documented success body, status queued."""
        msg_id = hex_id("msg_")
        data = {
            "message_id": msg_id,
            "from": draft.sender,
            "to": draft.to,
            "direction": "outbound",
            "status": "queued",
        }
        answer = Answer(200, {"status": "success", "message": "Message sent", "data": data})
        assert ctx.payload is not None
        msg = Message(
            self.name,
            ctx.identity,
            msg_id,
            draft.to,
            draft.sender,
            draft.body,
            draft.media,
            ctx.now,
            ctx.payload,
            data,
        )
        return msg, answer

    def receipt_url(self, msg: Message) -> str | None:
        """JustCall posts to the message's own webhook_url."""
        url = msg.request.get("webhook_url")
        return url if isinstance(url, str) else None

    def receipt_payload(self, msg: Message, status: str) -> dict[str, Any]:
        """Documented fields: message_id, status, to, from, timestamp."""
        return {
            "message_id": msg.id,
            "status": status,
            "to": msg.to,
            "from": msg.sender,
            "timestamp": iso(time.time()),
        }


def _text(value: object) -> bool:
    return isinstance(value, str) and value != ""
