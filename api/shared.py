"""What every handler shares: the application's keys and the shapes of its error answers.

Every error is JSON: `{"error": "..."}`, or for a validation failure (422)
`{"errors": [{"index": i, "field": "...", "reason": "..."}]}` naming each problem.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection, Iterable, Mapping
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


def unknown_parameters(query: Mapping[str, str], known: Collection[str]) -> list[dict[str, Any]]:
    """A 422 entry for each query parameter not in `known`: a misspelt filter
    (`?stauts=failed`) is refused, not ignored into an answer of everything."""
    return [problem(name, "not a known parameter") for name in sorted(set(query) - set(known))]


def whole_number(
    query: Mapping[str, str], name: str, default: int, low: int, high: int
) -> tuple[int, list[dict[str, Any]]]:
    """`query[name]` as a whole number from `low` to `high` (`default` when absent), and the
    422 entry when it is not one (digits only: not ' 5', '1_000' or '-1')."""
    raw = query.get(name)
    if raw is None:
        return default, []
    if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
        return int(raw), []
    return default, [problem(name, f"a whole number from {low} to {high}")]


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
