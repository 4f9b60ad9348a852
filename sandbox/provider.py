"""The send pipeline shared by the four provider emulations.

Order: auth, quota, rate limit, injected faults, content type and JSON, validation,
idempotent replay, magic recipients, accept into the ledger, faults after acceptance.
Every decision is taken synchronously when the request body has been read, so limits and
idempotency have no races; latency, hangs and resets are applied afterwards.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import TYPE_CHECKING, Any, ClassVar

from aiohttp import web

from sandbox.formats import magic_kind
from sandbox.ratelimit import SlidingWindow
from sandbox.state import Message, ProviderState

if TYPE_CHECKING:
    from sandbox.hub import Hub

JSON_TYPE = "application/json"
# Reported in rate-limit headers when no limit is configured (inferred; see README).
NOMINAL_LIMIT = 1_000_000


def dumps(payload: object) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(payload, separators=(",", ":")).encode()


class Answer:
    """An HTTP answer decided by the pipeline: status, JSON body bytes, extra headers."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, payload: object, headers: dict[str, str] | None = None):
        self.status = status
        self.body = dumps(payload)
        self.headers = headers


class Draft:
    """A validated send request, reduced to what the ledger records plus provider extras."""

    __slots__ = ("body", "extra", "media", "sender", "to")

    def __init__(
        self,
        to: str,
        sender: str,
        body: str,
        media: list[str],
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.to = to
        self.sender = sender
        self.body = body
        self.media = media
        self.extra = extra or {}


class Context:
    """One send request as it moves through the pipeline."""

    __slots__ = ("identity", "now", "payload", "raw", "request")

    def __init__(self, request: web.Request, raw: bytes, now: float) -> None:
        self.request = request
        self.raw = raw
        self.now = now
        self.identity = ""
        self.payload: dict[str, Any] | None = None


class Decision:
    """The pipeline's verdict: outcome name, answer (if any) and fault to act out."""

    __slots__ = ("answer", "fault", "headers", "outcome")

    def __init__(self, outcome: str, answer: Answer | None, fault: str | None) -> None:
        self.outcome = outcome
        self.answer = answer
        self.fault = fault
        self.headers: dict[str, str] | None = None


class Provider:
    """Base class: the shared pipeline; subclasses supply auth, validation and answer shapes."""

    name: ClassVar[str]

    def __init__(self, hub: Hub, config: dict[str, Any]) -> None:
        self.hub = hub
        self.state = ProviderState(self.name, config)
        self.credentials: dict[str, str] = self.index_credentials(config["credentials"])

    def configure(self, config: dict[str, Any], *, reseed: bool) -> None:
        """Apply a new validated config for this provider."""
        self.state.configure(config, reseed=reseed)
        self.credentials = self.index_credentials(config["credentials"])

    def add_routes(self, app: web.Application) -> None:
        """Register this provider's routes."""
        raise NotImplementedError

    # ----- hooks for subclasses -------------------------------------------------------------

    def index_credentials(self, credentials: list[dict[str, str]]) -> dict[str, str]:
        """Map what arrives on the wire to the credential identity."""
        raise NotImplementedError

    def identify(self, request: web.Request) -> str | None:
        """The credential identity of a request, or None when auth fails."""
        raise NotImplementedError

    def auth_failed(self, ctx: Context) -> Answer:
        """Answer for missing or wrong credentials."""
        raise NotImplementedError

    def not_json(self, ctx: Context, reason: str) -> Answer:
        """Answer for a wrong content type (`content_type`) or unparsable body (`malformed`)."""
        raise NotImplementedError

    def rate_limited(self, ctx: Context, win: SlidingWindow) -> Answer:
        """Answer when the short sliding window is full."""
        raise NotImplementedError

    def quota_exceeded(self, ctx: Context, win: SlidingWindow) -> Answer:
        """Answer when the long quota window is full."""
        raise NotImplementedError

    def server_error(self, ctx: Context) -> Answer:
        """Answer for an injected 5xx fault."""
        raise NotImplementedError

    def validate(self, ctx: Context, payload: dict[str, Any]) -> Draft | Answer:
        """Check fields and formats; return a Draft or the rejection."""
        raise NotImplementedError

    def magic(self, ctx: Context, draft: Draft, kind: str) -> Answer:
        """Answer for a magic recipient (opted_out, invalid_destination, destination_blocked)."""
        raise NotImplementedError

    def accept(self, ctx: Context, draft: Draft) -> tuple[Message, Answer]:
        """Create the accepted message and the success answer."""
        raise NotImplementedError

    def replay(self, ctx: Context, payload: dict[str, Any]) -> Answer | None:
        """A stored answer for an idempotent repeat, if the provider supports that."""
        return None

    def headers(self, ctx: Context) -> dict[str, str] | None:
        """Headers added to every answer of this provider (rate-limit headers)."""
        return None

    def receipt_url(self, msg: Message) -> str | None:
        """Where receipts for this message go (default: the account callback_url)."""
        return self.state.callback_url

    def receipt_payload(self, msg: Message, status: str) -> dict[str, Any]:
        """The receipt body for one status of one message."""
        raise NotImplementedError

    def set_status(self, msg: Message, status: str) -> None:
        """Record a new delivery status on the stored message."""
        msg.status = status
        msg.obj["status"] = status

    def limit_values(self, ctx: Context, kind: str) -> tuple[int, int, int]:
        """(limit, remaining, reset epoch seconds) of the `rate` or `quota` window of ctx."""
        state = self.state
        if kind == "rate":
            limit, store = state.rate, state.rate_windows
        else:
            limit, store = state.quota, state.quota_windows
        if limit is None:
            return NOMINAL_LIMIT, NOMINAL_LIMIT, math.ceil(ctx.now)
        win = store.get(ctx.identity) if ctx.identity else None
        if win is None:
            return limit.limit, limit.limit, math.ceil(ctx.now)
        return win.snapshot(ctx.now, limit)

    # ----- the pipeline ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for the provider's send endpoint."""
        now = time.time()
        raw = await request.read()
        ctx = Context(request, raw, now)
        decision = self.decide(ctx)
        delay = self.state.delay()
        if delay > 0:
            await asyncio.sleep(delay)
        fault = decision.fault
        if fault is not None:
            if fault.startswith("timeout"):
                await self.hub.hang(self.state.hang_seconds)
            if fault != "timeout_after":
                return self.hub.drop(request)
        answer = decision.answer
        assert answer is not None
        return web.Response(
            body=answer.body,
            status=answer.status,
            headers=decision.headers,
            content_type=JSON_TYPE,
        )

    def decide(self, ctx: Context) -> Decision:
        """Run every check synchronously and return the verdict (counted and logged)."""
        state = self.state
        state.counters["requests"] += 1
        identity = self.identify(ctx.request)
        if identity is None:
            return self.finish(ctx, "auth_failed", self.auth_failed(ctx))
        ctx.identity = identity
        limited = self.check_limits(ctx)
        if limited is not None:
            return limited
        fault = state.roll(state.p_before)
        if fault == "fault_5xx":
            return self.finish(ctx, fault, self.server_error(ctx))
        if fault is not None:
            return self.finish(ctx, fault, None, fault)
        if ctx.request.content_type != JSON_TYPE:
            return self.finish(ctx, "rejected", self.not_json(ctx, "content_type"))
        try:
            payload = json.loads(ctx.raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return self.finish(ctx, "rejected", self.not_json(ctx, "malformed"))
        ctx.payload = payload
        checked = self.validate(ctx, payload)
        if isinstance(checked, Answer):
            return self.finish(ctx, "rejected", checked)
        replayed = self.replay(ctx, payload)
        if replayed is not None:
            return self.finish(ctx, "idempotent_replay", replayed)
        kind = magic_kind(checked.to)
        if kind is not None:
            return self.finish(ctx, "rejected", self.magic(ctx, checked, kind))
        msg, answer = self.accept(ctx, checked)
        self.hub.record(self, msg)
        after = state.roll(state.p_after)
        return self.finish(ctx, after or "accepted", answer, after)

    def check_limits(self, ctx: Context) -> Decision | None:
        """Quota first (a spent long window wins), then the rate limit; admit consumes both."""
        state = self.state
        now = ctx.now
        quota = state.quota
        quota_win = None
        if quota is not None:
            quota_win = state.window(state.quota_windows, ctx.identity)
            if quota_win.count(now, quota.window) >= quota.limit:
                return self.finish(ctx, "quota_exceeded", self.quota_exceeded(ctx, quota_win))
        rate = state.rate
        if rate is not None:
            rate_win = state.window(state.rate_windows, ctx.identity)
            if rate_win.count(now, rate.window) >= rate.limit:
                return self.finish(ctx, "rate_limited", self.rate_limited(ctx, rate_win))
            rate_win.add(now)
        if quota_win is not None:
            quota_win.add(now)
        return None

    def finish(
        self, ctx: Context, outcome: str, answer: Answer | None, fault: str | None = None
    ) -> Decision:
        """Count the outcome, log the arrival, attach headers."""
        state = self.state
        state.count(outcome)
        status = 0 if fault is not None or answer is None else answer.status
        state.arrivals.append([ctx.now, status, outcome])
        decision = Decision(outcome, answer, fault)
        if answer is not None:
            common = self.headers(ctx)
            if answer.headers:
                common = {**common, **answer.headers} if common else answer.headers
            decision.headers = common
        return decision
