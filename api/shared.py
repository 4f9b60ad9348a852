"""What every handler shares: the application's keys and the shapes of its error answers.

Every error is JSON: `{"error": "..."}`, or for a validation failure (422)
`{"errors": [{"index": i, "field": "...", "reason": "..."}]}` naming each problem.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import redis.asyncio as aredis
from aiohttp import web

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


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (at most `api_max_body` bytes, else 413); 400 when not JSON."""
    body = await request.read()
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise refuse(web.HTTPBadRequest, f"body is not valid JSON: {exc}") from None
