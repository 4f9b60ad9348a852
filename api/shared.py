"""What every handler shares: the application's keys and the shapes of its error answers.

Every error is JSON: `{"error": "..."}`, or for a validation failure (422)
`{"errors": [{"index": i, "field": "...", "reason": "..."}]}` naming each problem.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aredis
from aiohttp import web

from api.bodies import BadBody, parse_json
from producer.api import Producer
from sms.receipts import ReceiptStore
from sms.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
PRODUCER = web.AppKey("producer", Producer)
REDIS = web.AppKey("redis", aredis.Redis)
RECEIPTS = web.AppKey("receipts", ReceiptStore)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON error answer."""
    return web.json_response({"error": message}, status=status, headers=headers)


def refuse(status: type[web.HTTPException], message: str) -> web.HTTPException:
    """A JSON error answer to raise from deep inside a handler."""
    return status(text=json.dumps({"error": message}), content_type="application/json")


def invalid(problems: Iterable[dict[str, Any]]) -> web.Response:
    """A 422 answer listing each problem's field and reason."""
    return web.json_response({"errors": list(problems)}, status=422)


def problem(field: str, reason: str, index: int | None = None) -> dict[str, Any]:
    """One entry of a 422 answer (`index` says which message of a list)."""
    entry: dict[str, Any] = {"field": field, "reason": reason}
    return entry if index is None else {"index": index, **entry}


async def read_body(request: web.Request) -> bytes:
    """The request's body: at most `api_max_body` bytes (else 413), within `api_body_timeout`
    seconds (else 408)."""
    limit = request.app[SETTINGS].api_body_timeout
    try:
        async with asyncio.timeout(limit):
            return await request.read()
    except TimeoutError:
        late = refuse(web.HTTPRequestTimeout, f"body not received within {limit:g} s")
        late.force_close()  # the rest of the body is never read: the connection cannot go on
        raise late from None


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (api/bodies.py): 400 when it is not JSON we read, 422 naming a
    string we refuse (NUL, control character, lone surrogate)."""
    body = await read_body(request)
    try:
        return parse_json(body)
    except BadBody as exc:
        if exc.status == 422:
            index = exc.path[0] if exc.path and isinstance(exc.path[0], int) else None
            field = ".".join(str(p) for p in exc.path[1:]) if index is not None else exc.field
            raise web.HTTPUnprocessableEntity(
                text=json.dumps({"errors": [problem(field or "message", exc.reason, index)]}),
                content_type="application/json",
            ) from None
        raise refuse(web.HTTPBadRequest, exc.reason) from None
