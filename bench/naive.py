"""The naive baseline: what a user writes first, one Celery task per message.

`send_one(account, to, sender, body)` builds the message and posts it with a fresh aiohttp
session inside `asyncio.run(...)`, as copy-pasted code does: a new event loop, connector and TCP
connection for every message. The request itself is the real adapter's, so the sandbox sees
exactly what Salvo would send. The worker is started by `bench.throughput` as

    python -m celery -A bench.naive worker --pool prefork --concurrency 2 -Q bench-naive

with its broker and accounts in the environment (`BENCH_NAIVE_BROKER`, `BENCH_NAIVE_ACCOUNTS`).
It uses its own Redis database and queue, so it can never collide with Salvo's lanes.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
from celery import Celery, signals

from sms.message import Message
from sms.providers import adapter_for
from sms.providers.base import Adapter
from sms.settings import Settings

QUEUE = "bench-naive"
TASK = "bench.naive.send_one"
BROKER_ENV = "BENCH_NAIVE_BROKER"
ACCOUNTS_ENV = "BENCH_NAIVE_ACCOUNTS"
READY_ENV = "BENCH_NAIVE_READY"


def make_app(broker_url: str) -> Celery:
    """A plain Celery app: defaults everywhere but the queue name and JSON."""
    app = Celery("bench_naive", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app


@functools.cache
def _adapters() -> dict[str, Adapter[Any]]:
    """The accounts handed over in the environment, as adapters (built once per process)."""
    accounts = json.loads(os.environ.get(ACCOUNTS_ENV, "{}"))
    settings = Settings(providers=accounts)
    return {name: adapter_for(account) for name, account in settings.providers.items()}


async def _post(adapter: Adapter[Any], message: Message) -> int:
    request = adapter.build_request(message)
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            request.method,
            request.url,
            data=json.dumps(request.json),
            headers={**request.headers, "Content-Type": "application/json"},
        ) as resp,
    ):
        await resp.read()
        return resp.status


def send_one(account: str, to: str, sender: str, body: str) -> int:
    """Send one message, the naive way; returns the HTTP status (raises on a 5xx)."""
    message = Message.model_validate({"account": account, "to": to, "from": sender, "body": body})
    status = asyncio.run(_post(_adapters()[account], message))
    if status >= 500:
        raise RuntimeError(f"provider answered {status}")
    return status


app = make_app(os.environ.get(BROKER_ENV, "redis://127.0.0.1:6379/15"))
send_one_task = app.task(name=TASK)(send_one)


def _ready(**_: Any) -> None:
    path = os.environ.get(READY_ENV)
    if path:
        Path(path).write_text("ready\n")


signals.worker_ready.connect(_ready, weak=False)
