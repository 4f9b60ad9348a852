"""CarrierX emulation: `POST /carrierx/core/v2/sms/messages` (Bearer token) and message lookup."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from aiohttp import web

from sandbox.formats import DIGITS_ONLY, digits, is_http_url, iso, segments, uuid_id
from sandbox.provider import JSON_TYPE, Answer, Context, Draft, Provider
from sandbox.ratelimit import SlidingWindow
from sandbox.state import Message

US_NUMBER = re.compile(r"1[0-9]{10}")
MAX_MESSAGE = 1600
MAX_MEDIA = 10
MAX_GROUP = 10

MAGIC_MESSAGES = {
    "opted_out": "recipient has opted out",
    "invalid_destination": "invalid destination number",
    "destination_blocked": "destination number is blocked",
}


def error(
    status: int, message: str, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> Answer:
    """CarrierX's error body (undocumented; the official SDK reads an `errors` list)."""
    return Answer(status, {"message": message, "errors": errors}, headers)


def field_error(field: str | None, message: str) -> dict[str, Any]:
    """One entry of the `errors` list."""
    return {"field": field, "message": message}


class CarrierX(Provider):
    """CarrierX Core API v2 SMS."""

    name = "carrierx"

    def add_routes(self, app: web.Application) -> None:
        """Register send and lookup."""
        app.router.add_post("/carrierx/core/v2/sms/messages", self.handle)
        app.router.add_get("/carrierx/core/v2/sms/messages/{message_sid}", self.lookup)

    def index_credentials(self, credentials: list[dict[str, str]]) -> dict[str, str]:
        """The token is its own identity."""
        return {c["token"]: c["token"] for c in credentials}

    def identify(self, request: web.Request) -> str | None:
        """`Authorization: Bearer <token>` (scheme case-insensitive, per RFC 6750)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self.credentials.get(token.strip())

    def auth_failed(self, ctx: Context) -> Answer:
        """401 (documented code)."""
        return error(401, "Unauthorized", [field_error("Authorization", "invalid bearer token")])

    def not_json(self, ctx: Context, reason: str) -> Answer:
        """415 for a non-JSON content type, 400 for a malformed body (documented codes)."""
        if reason == "content_type":
            return error(415, "Unsupported Media Type", [field_error("Content-Type", "send JSON")])
        return error(400, "Bad Request", [field_error(None, "body is not a JSON object")])

    def _too_many(self, ctx: Context, win: SlidingWindow, what: str, kind: str) -> Answer:
        headers = None
        if self.state.config["carrierx_retry_after"]:
            limit = self.state.rate if kind == "rate" else self.state.quota
            assert limit is not None
            headers = {"Retry-After": str(win.retry_after(ctx.now, limit))}
        return error(429, "Too Many Requests", [field_error(None, what)], headers)

    def rate_limited(self, ctx: Context, win: SlidingWindow) -> Answer:
        """429 (no rate limit is documented: inferred)."""
        return self._too_many(ctx, win, "rate limit exceeded", "rate")

    def quota_exceeded(self, ctx: Context, win: SlidingWindow) -> Answer:
        """429 (no quota is documented: inferred)."""
        return self._too_many(ctx, win, "quota exceeded", "quota")

    def server_error(self, ctx: Context) -> Answer:
        """500 or 503 at random."""
        if self.state.rng.random() < 0.5:
            return error(500, "Internal Server Error", [])
        return error(503, "Service Unavailable", [])

    def validate(self, ctx: Context, payload: dict[str, Any]) -> Draft | Answer:
        """Required fields, digit-only numbers, message/media/group limits; 422 lists errors."""
        errors: list[dict[str, Any]] = []
        sender = payload.get("from", payload.get("from_did"))
        to = payload.get("to", payload.get("to_did"))
        for field, value in (("from", sender), ("to", to)):
            if value is None or value == "":
                errors.append(field_error(field, "is required"))
            elif not isinstance(value, str) or not DIGITS_ONLY.fullmatch(value):
                errors.append(field_error(field, "must be digits without '+', e.g. 15162065574"))
        message = payload.get("message")
        if message is not None and not isinstance(message, str):
            errors.append(field_error("message", "must be a string"))
            message = None
        media = _string_list(payload.get("media_urls"), errors, "media_urls", MAX_MEDIA)
        if not all(is_http_url(u) for u in media):
            errors.append(field_error("media_urls", "must be http(s) URLs"))
        group = _string_list(payload.get("group_recipients"), errors, "group_recipients", MAX_GROUP)
        if not all(DIGITS_ONLY.fullmatch(n) for n in group):
            errors.append(field_error("group_recipients", "must be digits without '+'"))
        if message is not None and len(message) > MAX_MESSAGE:
            errors.append(field_error("message", "must be at most 1600 characters"))
        if not media and not message:
            errors.append(field_error("message", "is required when media_urls is empty"))
        user_data = payload.get("user_data")
        if user_data is not None and not isinstance(user_data, str):
            errors.append(field_error("user_data", "must be a string"))
        kind = "mms" if media or group else "sms"
        given = payload.get("type")
        if given is not None:
            if given not in ("sms", "mms"):
                errors.append(field_error("type", "must be sms or mms"))
            elif given == "sms" and kind == "mms":
                errors.append(field_error("type", "must be mms with media_urls/group_recipients"))
            else:
                kind = given
        numbers = [to, *group] if isinstance(to, str) else group
        if not errors and kind == "mms" and not all(US_NUMBER.fullmatch(n) for n in numbers):
            errors.append(field_error("to", "MMS to numbers outside the US is disabled"))
        if errors:
            return error(422, "Unprocessable Entity", errors)
        assert isinstance(sender, str) and isinstance(to, str)
        senders = self.state.senders
        if senders is not None and digits(sender) not in senders:
            return error(
                403, "Forbidden", [field_error("from", "SMS/MMS is not enabled on this DID")]
            )
        extra = {"group_recipients": group, "type": kind, "user_data": user_data}
        return Draft(to, sender, message or "", media, extra)

    def magic(self, ctx: Context, draft: Draft, kind: str) -> Answer:
        """422 with an errors list (inferred)."""
        return error(422, "Unprocessable Entity", [field_error("to", MAGIC_MESSAGES[kind])])

    def accept(self, ctx: Context, draft: Draft) -> tuple[Message, Answer]:
        """200 with the full SMS object, status queued."""
        sid = uuid_id()
        stamp = iso(ctx.now)
        obj: dict[str, Any] = {
            "date_changed": stamp,
            "date_created": stamp,
            "date_status_changed": None,
            "direction": "outbound",
            "from": draft.sender,
            "group_recipients": draft.extra["group_recipients"],
            "mcc": None,
            "media_urls": draft.media,
            "message": draft.body,
            "message_segments": segments(draft.body) if draft.body else 1,
            "message_sid": sid,
            "mnc": None,
            "partner_sid": str(uuid.uuid5(uuid.NAMESPACE_URL, "carrierx:" + ctx.identity)),
            "price": None,
            "status": "queued",
            "to": draft.to,
            "type": draft.extra["type"],
            "user_data": draft.extra["user_data"],
        }
        answer = Answer(200, obj)
        assert ctx.payload is not None
        msg = Message(
            self.name,
            ctx.identity,
            sid,
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
        """Update status and the change dates of the SMS object."""
        stamp = iso(time.time())
        msg.status = status
        msg.obj.update(status=status, date_status_changed=stamp, date_changed=stamp)

    def receipt_payload(self, msg: Message, status: str) -> dict[str, Any]:
        """Callbacks POST the SMS object (user_data included)."""
        return dict(msg.obj, status=status)

    async def lookup(self, request: web.Request) -> web.Response:
        """`GET .../sms/messages/{message_sid}`: the current SMS object, or 404."""
        identity = self.identify(request)
        if identity is None:
            answer = self.auth_failed(Context(request, b"", time.time()))
        else:
            msg = self.state.messages.get(request.match_info["message_sid"])
            if msg is None or msg.account != identity:
                answer = error(404, "Not Found", [field_error("message_sid", "not found")])
            else:
                answer = Answer(200, msg.obj)
        return web.Response(body=answer.body, status=answer.status, content_type=JSON_TYPE)


def _string_list(value: object, errors: list[dict[str, Any]], field: str, cap: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors.append(field_error(field, "must be a list of strings"))
        return []
    if len(value) > cap:
        errors.append(field_error(field, f"must have at most {cap} items"))
    return value
