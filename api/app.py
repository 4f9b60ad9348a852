"""The aiohttp application behind `salvo api`, and the functions that serve it.

One `Producer` (blocking Redis and Celery clients) per application, its calls run in threads;
one asyncio Redis client for reads, receipts and health. JSON bodies are limited to
`api_max_body` bytes and read by api/bodies.py, campaign uploads (streamed) to `api_max_upload`;
slow and numerous clients are cut off as api/limits.py says. Nothing a client sends is answered
500: while Redis (or the broker on it) cannot be reached the answer is 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

import redis.exceptions
from aiohttp import web
from aiohttp.typedefs import Handler
from kombu.exceptions import OperationalError

from api import (
    campaigns,
    dashboard,
    health,
    inbound,
    ingest,
    messages,
    metrics,
    openapi,
    optouts,
    receipts,
    results,
)
from api.auth import require_api_key
from api.limits import CappedSite
from api.logs import AccessLogger, masked
from api.shared import PRODUCER, RECEIPTS, REDIS, SETTINGS, error
from producer.api import Producer
from sms.connect import async_client
from sms.receipts import ReceiptStore
from sms.settings import Settings

log = logging.getLogger("salvo.api")

#: Seconds a client is told to wait when Redis cannot be reached.
RETRY_AFTER = 5
#: What a lost Redis (or broker) connection raises, in redis-py and in Celery's kombu.
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error answer is JSON, aiohttp's own (404, 405, 413) and unexpected ones alike."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        default = f"{exc.status}: {exc.reason}"
        text = exc.reason if not exc.text or exc.text == default else exc.text
        return error(exc.status, text, headers=headers)
    except asyncio.CancelledError:
        raise
    except UNREACHABLE as exc:
        log.warning("%s %s: Redis unreachable: %s", request.method, masked(request.path), exc)
        headers = {"Retry-After": str(RETRY_AFTER)}
        return error(503, "Redis unreachable; retry later", headers=headers)
    except Exception:
        log.exception("%s %s failed", request.method, masked(request.path))
        return error(500, "internal error")


def create_app(settings: Settings, redis_url: str) -> web.Application:
    """The API application for `settings`, on the Redis server at `redis_url`."""
    app = web.Application(
        client_max_size=settings.api_max_body, middlewares=[json_errors, require_api_key]
    )
    app[SETTINGS] = settings

    async def clients(app: web.Application) -> AsyncIterator[None]:
        app[PRODUCER] = Producer(settings, redis_url=redis_url)
        app[REDIS] = async_client(redis_url, decode_responses=True)
        app[RECEIPTS] = ReceiptStore(app[REDIS], retention=settings.idempotency_retention)
        app[metrics.REGISTRY] = metrics.registry_for(app)
        ingests = await asyncio.to_thread(ingest.setup, app, settings, app[PRODUCER])
        if not settings.api_keys:
            log.warning("no api_keys configured: every /v1 request but receipts is refused")
        yield
        await asyncio.to_thread(ingests.close)
        await app[REDIS].aclose()
        await asyncio.to_thread(app[PRODUCER].close)

    app.cleanup_ctx.append(clients)
    for module in (
        messages,
        campaigns,
        results,
        receipts,
        inbound,
        optouts,
        health,
        metrics,
        openapi,
        dashboard,
    ):
        module.add_routes(app)
    return app


async def start(settings: Settings, redis_url: str, host: str, port: int) -> web.AppRunner:
    """Start serving in the running loop (port 0 picks a free port); returns the runner."""
    runner = web.AppRunner(
        create_app(settings, redis_url),
        access_log=logging.getLogger("salvo.api.access"),
        access_log_class=AccessLogger,
        keepalive_timeout=settings.api_header_timeout,
        shutdown_timeout=5.0,
    )
    await runner.setup()
    await CappedSite(runner, host, port, settings.api_max_connections).start()
    return runner


async def serve(settings: Settings, redis_url: str, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, announcing the bound address on stdout."""
    runner = await start(settings, redis_url, host, port)
    bound = runner.addresses[0][1]
    print(f"api listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def run(
    settings: Settings,
    redis_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    loglevel: str = "INFO",
) -> None:
    """Run the API in the foreground, logging to stderr at `loglevel`, until interrupted.

    At INFO every request is logged (api/logs.py); WARNING keeps refusals and failures only."""
    logging.basicConfig(
        level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings, redis_url, host, port))
