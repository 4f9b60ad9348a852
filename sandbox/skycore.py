"""Skycore emulation: `POST /skycore/api` with `x-api-key`; every answer is HTTP 200."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from sandbox.formats import OPTIONAL_PLUS, SHORTCODE_OR_NUMBER, digits, hex_id, iso
from sandbox.provider import Answer, Context, Draft, Provider
from sandbox.ratelimit import SlidingWindow
from sandbox.state import Message

MAGIC_CODES = {
    "opted_out": ("E715", "Number Not Subscribed To The Campaign."),
    "invalid_destination": ("E110", "Invalid Receiver."),
    "destination_blocked": ("E628", "Operator Not Supported."),
}
POSTBACK_CODES = {
    "sent": ("N201", "Sent"),
    "delivered": ("N202", "Delivered"),
    "failed": ("E201", "Failed"),
    "undelivered": ("E202", "Rejected"),
}


class Skycore(Provider):
    """Skycore SMS API (action sendsms)."""

    name = "skycore"

    def add_routes(self, app: web.Application) -> None:
        """Register the account's API endpoint URL."""
        app.router.add_post("/skycore/api", self.handle)

    def index_credentials(self, credentials: list[dict[str, str]]) -> dict[str, str]:
        """The api key is its own identity (case-sensitive)."""
        return {c["api_key"]: c["api_key"] for c in credentials}

    def identify(self, request: web.Request) -> str | None:
        """The `x-api-key` header."""
        key = request.headers.get("x-api-key")
        return None if key is None else self.credentials.get(key)

    def failure(self, ctx: Context, code: str, info: str) -> Answer:
        """HTTP 200 Failure; `to` is the receiver's digits (the doc's example drops the `+`)."""
        payload = ctx.payload
        if payload is None:
            try:
                parsed = json.loads(ctx.raw)
            except ValueError:
                parsed = None
            payload = parsed if isinstance(parsed, dict) else {}
        to = payload.get("to")
        body = {
            "status": "Failure",
            "error-code": code,
            "error-info": info,
            "to": digits(to) if isinstance(to, str) else "",
        }
        return Answer(200, body)

    def auth_failed(self, ctx: Context) -> Answer:
        """E102 (the docs give E102-E105/E107/E109 for credentials; the exact code is inferred)."""
        return self.failure(ctx, "E102", "Invalid API Key.")

    def not_json(self, ctx: Context, reason: str) -> Answer:
        """E100 bad request."""
        return self.failure(ctx, "E100", "Invalid Request.")

    def rate_limited(self, ctx: Context, win: SlidingWindow) -> Answer:
        """E106 calls too frequent."""
        return self.failure(ctx, "E106", "Calls Too Frequent.")

    def quota_exceeded(self, ctx: Context, win: SlidingWindow) -> Answer:
        """E120 request limit reached."""
        return self.failure(ctx, "E120", "Request Limit Reached.")

    def server_error(self, ctx: Context) -> Answer:
        """E503 internal error, still HTTP 200 (inferred)."""
        return self.failure(ctx, "E503", "Internal Error.")

    def validate(self, ctx: Context, payload: dict[str, Any]) -> Draft | Answer:
        """action sendsms; to, message-text, from required; optional fields typed."""
        action = payload.get("action")
        if not isinstance(action, str) or action.lower() != "sendsms":
            return self.failure(ctx, "E101", "Invalid Action.")
        to = payload.get("to")
        if to is None or to == "":
            return self.failure(ctx, "E201", "Receiver Required.")
        if not isinstance(to, str) or not OPTIONAL_PLUS.fullmatch(to):
            return self.failure(ctx, "E110", "Invalid Receiver.")
        text = payload.get("message-text")
        if not isinstance(text, str) or text == "":
            return self.failure(ctx, "E712", "Message Text Required.")
        sender = payload.get("from")
        if not isinstance(sender, str) or not SHORTCODE_OR_NUMBER.fullmatch(sender):
            return self.failure(ctx, "E111", "Invalid Sender.")
        senders = self.state.senders
        if senders is not None and digits(sender) not in senders:
            return self.failure(ctx, "E111", "Invalid Sender.")
        mask = payload.get("from-mask")
        tracking = payload.get("click-tracking")
        if (mask is not None and not isinstance(mask, str)) or (
            tracking is not None and not isinstance(tracking, bool)
        ):
            return self.failure(ctx, "E100", "Invalid Request.")
        campaign = payload.get("campaign-ref")
        if campaign is not None and not isinstance(campaign, str):
            return self.failure(ctx, "E714", "Invalid Campaign.")
        if self.state.config["enforce_campaign_check"] and not campaign:
            return self.failure(ctx, "E714", "Invalid Campaign.")
        extra = {"campaign-ref": campaign or "", "from-mask": (mask or "")[:11]}
        return Draft(to, sender, text, [], extra)

    def magic(self, ctx: Context, draft: Draft, kind: str) -> Answer:
        """E715 opted out, E110 invalid, E628 blocked (E628 chosen; inferred)."""
        code, info = MAGIC_CODES[kind]
        return self.failure(ctx, code, info)

    def accept(self, ctx: Context, draft: Draft) -> tuple[Message, Answer]:
        """HTTP 200 Success with a tracking-id; to and from echoed as given."""
        tracking_id = hex_id()
        answer = Answer(
            200,
            {
                "status": "Success",
                "tracking-id": tracking_id,
                "to": draft.to,
                "from": draft.sender,
                "status-details": "SMS request accepted and queued for delivery",
            },
        )
        assert ctx.payload is not None
        obj = dict(draft.extra, status="queued")
        msg = Message(
            self.name,
            ctx.identity,
            tracking_id,
            draft.to,
            draft.sender,
            draft.body,
            [],
            ctx.now,
            ctx.payload,
            obj,
        )
        return msg, answer

    def receipt_payload(self, msg: Message, status: str) -> dict[str, Any]:
        """Documented postback fields; timestamp and operator values inferred."""
        code, text = POSTBACK_CODES[status]
        return {
            "origin": "SMS_MT",
            "code": code,
            "status": text,
            "from": msg.sender,
            "to": msg.to,
            "tracking-id": msg.id,
            "campaign-ref": msg.obj["campaign-ref"],
            "from-mask": msg.obj["from-mask"],
            "timestamp": iso(time.time()),
            "operator-id": "0",
            "operator-name": "Sandbox Mobile",
        }
