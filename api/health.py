"""`GET /healthz`: 200 when Redis answers and a worker has beaten its heart lately, else 503.

Workers' dispatchers write a heartbeat every 5 s into `keys.WORKERS`; a member newer than
`FRESH` seconds counts as a live worker.
"""

from __future__ import annotations

import asyncio
import time

import redis.exceptions
from aiohttp import web

from api.shared import REDIS
from sms import keys

FRESH = 30.0
TIMEOUT = 2.0


async def healthz(request: web.Request) -> web.Response:
    """Redis reachable and workers seen recently; the JSON says which part is missing."""
    client = request.app[REDIS]
    problems: list[str] = []
    workers = 0
    reachable = False
    try:
        async with asyncio.timeout(TIMEOUT):
            reachable = bool(await client.ping())
            workers = int(await client.zcount(keys.WORKERS, time.time() - FRESH, "+inf"))
    except (TimeoutError, redis.exceptions.RedisError, OSError) as exc:
        problems.append(f"redis unreachable: {type(exc).__name__}")
    if reachable and not workers:
        problems.append(f"no worker seen in the last {FRESH:g} s")
    answer = {
        "status": "ok" if not problems else "unavailable",
        "redis": reachable,
        "workers": workers,
        "problems": problems,
    }
    return web.json_response(answer, status=200 if not problems else 503)


def add_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/healthz", healthz)
