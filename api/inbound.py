"""`POST /v1/inbound/{account}[/{secret}]`: a recipient's reply, in its provider's shape; and
`GET /v1/inbound`, the replies kept, newest first.

A reply is authenticated as receipts are (api/receipts.py), before its body is read: the
account's `receipt_secret` as the URL's last segment, or for a JustCall account with
`signed_webhooks` JustCall's signature, with a timestamp within `receipt_window` seconds; every
failure (an unknown account too) is the same 401. STOP-family
keywords put the sender on the suppression list, START-family take it off, HELP is recorded;
every reply is kept. A post that is not an inbound message (a delivery event sent to the same
URL) is answered 200 and ignored; one that cannot be read is refused with 400, changing nothing.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from api.receipts import authenticated_body
from api.shared import PRODUCER, SETTINGS, error, invalid, problem, unknown_parameters, whole_number
from sms.inbound import PARSERS, BadInbound, listing, record
from sms.phone import mask

log = logging.getLogger("salvo.inbound")
#: The most replies one `GET /v1/inbound` answers.
MAX_LIMIT = 1000


async def post_inbound(request: web.Request) -> web.Response:
    """Read, authenticate and record one reply; act on its keyword."""
    settings = request.app[SETTINGS]
    authenticated = await authenticated_body(request, "inbound message")
    if isinstance(authenticated, web.Response):
        return authenticated
    name, account, body = authenticated
    try:
        message = PARSERS[account.kind](body, request.headers)
    except BadInbound as exc:
        log.warning("inbound message for %s unreadable: %s", name, exc)
        return error(400, f"not a {account.kind} inbound message: {exc}")
    if message is None:
        return web.json_response({"result": "ignored"})
    producer = request.app[PRODUCER]
    done = await asyncio.to_thread(
        record,
        producer.redis,
        producer.optouts,
        name,
        account.kind,
        message,
        retention=settings.idempotency_retention,
    )
    log.info(
        "inbound message for %s from %s: %s (%s)",
        name,
        mask(message.sender),
        done.keyword or "no keyword",
        done.action,
    )
    return web.json_response(
        {
            "result": "repeat" if done.id is None else "recorded",
            "id": done.id,
            "keyword": done.keyword.value if done.keyword else None,
            "action": done.action,
        }
    )


async def get_inbound(request: web.Request) -> web.Response:
    """The replies kept, newest first: `account`, `limit` (1-1000, default 100), `before` (an
    id from an earlier page)."""
    q = request.query
    account = q.get("account") or None
    problems = unknown_parameters(q, ("account", "limit", "before"))
    if account is not None and (why := request.app[SETTINGS].unknown_account(account)):
        problems.append(problem("account", why))
    limit, bad_limit = whole_number(q, "limit", 100, 1, MAX_LIMIT)
    problems += bad_limit
    before = q.get("before", "+")
    if before != "+" and not _stream_id(before):
        problems.append(problem("before", "must be a message id from an earlier answer"))
    if problems:
        return invalid(problems)
    redis = request.app[PRODUCER].redis
    rows = await asyncio.to_thread(listing, redis, account=account, limit=limit, before=before)
    return web.json_response({"messages": rows})


def _stream_id(text: str) -> bool:
    """Whether `text` is a stream id Redis reads (`ms` or `ms-seq`, each below 2**64)."""
    ms, dash, seq = text.partition("-")
    parts = [ms, seq] if dash else [ms]
    return all(p.isascii() and p.isdigit() and int(p) < 1 << 64 for p in parts)


def add_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_post("/v1/inbound/{account}", post_inbound)
    app.router.add_post("/v1/inbound/{account}/{secret}", post_inbound)
    app.router.add_get("/v1/inbound", get_inbound)
