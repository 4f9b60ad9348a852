"""What several test modules need: the CLI as a subprocess, waiting for records, senders, and
a send whose receipts overtook its record."""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis

from producer.api import Producer
from salvo.local import SandboxControl
from sms.message import TERMINAL, Message, Status
from sms.providers.base import Receipt
from sms.receipts import ReceiptStore
from sms.store import AsyncStore, Move, Record, Store

#: How long an async test may run before it fails.
ASYNC_TIMEOUT = 20.0


def async_test(
    fn: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., None]:
    """The one way the suite writes an async test: `@async_test` on an `async def test_...`,
    run with asyncio.run under a timeout (no pytest plugin: the loop is the test's own)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), ASYNC_TIMEOUT))

    return wrapper


#: A sender number per sandboxed account.
SENDERS = {
    "justcall": "+14155550100",
    "carrierx": "+14155550101",
    "textingline": "+14155550102",
    "skycore": "+14155550103",
}


def run_cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`salvo --config CONFIG ARGS...` in a subprocess, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "salvo.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(producer: Producer, ids: list[str], timeout: float = 60.0) -> list[Record]:
    """The records of `ids` once every one is final (terminal or unknown)."""
    deadline = time.monotonic() + timeout
    while True:
        records = [producer.status(i) for i in ids]
        if all(r.status in TERMINAL or r.status is Status.UNKNOWN for r in records):
            return records
        if time.monotonic() > deadline:
            pending = Counter(r.status.value for r in records)
            raise AssertionError(f"not finished within {timeout}s: {pending}")
        time.sleep(0.1)


def sent_when_due(producer: Producer, sandbox: SandboxControl, mid: str, due: datetime) -> None:
    """`mid`, due at `due` (a few seconds ahead), is not sent half a second on, then is sent
    once, and not before it was due."""
    time.sleep(0.5)
    assert sandbox.ledger() == []
    (record,) = wait_for(producer, [mid])
    assert record.status is Status.SENT
    (entry,) = sandbox.ledger()
    assert entry["received_at"] >= due.timestamp() - 0.05


@dataclass(frozen=True)
class Overtaken:
    """What happened to a send whose receipts came before the worker recorded it."""

    message_id: str
    early: list[str]  # each receipt's outcome when it came (held, as no send is recorded yet)
    moved: int  # move.lua's answer when the send was recorded
    applied: list[str]  # the held receipts' outcomes when the worker applied them, if it did


def overtaken_send(url: str, provider_id: str, statuses: list[Status], *, apply: bool) -> Overtaken:
    """A TextingLine send claimed by "worker-a", whose receipts (`statuses`, under
    `provider_id`) arrive before the worker records it sent; with `apply`, the worker then
    applies what was held (ReceiptStore.apply_held), as worker/batch.py does."""
    m = Message.model_validate(
        {"account": "textingline", "to": "+12025550123", "from": "+14155550102", "body": "x"}
    )
    Store(redis.Redis.from_url(url, decode_responses=True), retention=60).enqueue_many([m], [None])

    async def run() -> Overtaken:
        client = aredis.Redis.from_url(url, decode_responses=True)
        store, receipts = AsyncStore(client, retention=60), ReceiptStore(client, retention=60)
        try:
            await store.claim_many([m.id], m.account, "worker-a", 60.0)
            early = [
                str((await receipts.apply(m.account, Receipt(s, provider_id=provider_id))).outcome)
                for s in statuses
            ]
            sent = Move(
                m.id,
                m.account,
                None,
                Status.SENDING,
                Status.SENT,
                owner="worker-a",
                provider_id=provider_id,
            )
            (moved,) = (await store.run([store.move_call([sent])]))[0]
            held = await receipts.apply_held(m.account, provider_id) if apply else []
            applied = [str(a.outcome) for a in held]
            return Overtaken(m.id, early, int(moved), applied)
        finally:
            await client.aclose()

    return asyncio.run(run())
