"""`python -m bench.store`: what the record-keeping of one message costs, step by step.

Every message Salvo sends passes four steps in Redis: its record is written (enqueue.lua), it is
metered out of its account's ready queue (meter.lua), claimed and read (claim.lua) and its outcome
recorded (move.lua), each step as one script call per batch, on a private embedded server with
AOF on (as Salvo runs it). For each step this
prints the CPU it costs per message, in the client (this process, asyncio on uvloop like a
worker) and in the server (its `used_cpu_*` counters), against a baseline run in the same
process on the same server: the same records written with plain pipelined `HSET`s, the least
any durable write of a message costs. No HTTP and no Celery are involved: this is the floor
that exactly-once puts under every message, whatever the provider.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import redis
import redis.asyncio as aredis
from rich.console import Console
from rich.table import Table

from bench.runs import build_messages
from salvo.local import redis_server
from sms import keys
from sms.message import Message, Status
from sms.store import AsyncStore, MeterLimits, Move, Store

BATCH = 100  # ids per worker batch, as Settings.batch_size
CHUNK = 1000  # messages per enqueue call, as the producer's chunk


def _server_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _steps(url: str, messages: Sequence[Message]) -> dict[str, Callable[[], Awaitable[Any]]]:
    client = aredis.Redis.from_url(url, decode_responses=True)
    store = AsyncStore(client, retention=3600)
    ids = [m.id for m in messages]
    account = {m.id: m.account for m in messages}
    campaign = messages[0].campaign
    by_account: dict[str, list[str]] = {}
    for m in messages:
        by_account.setdefault(m.account, []).append(m.id)

    async def claim() -> None:
        for name, mine in by_account.items():
            for s in range(0, len(mine), BATCH):
                claimed = await store.claim_many(mine[s : s + BATCH], name, "bench-owner", 60.0)
                assert all(c.status == "claimed" for c in claimed)

    async def move() -> None:
        tenth = int(time.time() * 10)
        for s in range(0, len(ids), BATCH):
            await store.move_many(
                [
                    Move(
                        i,
                        account[i],
                        campaign,
                        Status.SENDING,
                        Status.SENT,
                        owner="bench-owner",
                        provider_id=f"p-{i}",
                        accepted_at=tenth,
                    )
                    for i in ids[s : s + BATCH]
                ]
            )

    return {"claim.lua (and read)": claim, "move.lua": move}


def measure(url: str, n: int) -> list[tuple[str, float, float]]:
    """(step, client µs per message, server µs per message) for baseline and each step."""
    sync = redis.Redis.from_url(url, decode_responses=True)
    out: list[tuple[str, float, float]] = []

    @contextlib.contextmanager
    def timed(name: str) -> Iterator[None]:
        server0, client0 = _server_cpu(sync), time.process_time()
        yield
        server1, client1 = _server_cpu(sync), time.process_time()
        out.append((name, (client1 - client0) / n * 1e6, (server1 - server0) / n * 1e6))

    baseline = build_messages(n, "bench-baseline")
    messages = build_messages(n, "bench-store")

    def plain_hset() -> None:
        for s in range(0, n, CHUNK):
            pipe = sync.pipeline(transaction=False)
            for m in baseline[s : s + CHUNK]:
                pipe.hset(
                    keys.message(m.id),
                    mapping={"status": "queued", "data": m.model_dump_json(), "account": m.account},
                )
            pipe.execute()

    store = Store(sync, retention=3600)

    def enqueue() -> None:
        for s in range(0, n, CHUNK):
            chunk = messages[s : s + CHUNK]
            store.enqueue_many(chunk, [None] * len(chunk))

    limits = MeterLimits(1e6, 1e6, 1.0, 0.0, n, 1000)

    def meter() -> None:
        accounts = {m.account for m in messages}
        taken = 0
        while taken < n:
            for name in accounts:
                got = store.meter(name, limits)
                taken += len(got.transactional) + len(got.bulk)
                sync.delete(keys.out(name))  # as the claims would

    with timed("baseline: plain HSET"):
        plain_hset()
    with timed("enqueue.lua"):
        enqueue()
    with timed("meter.lua"):
        meter()

    async def worker_side() -> None:
        for name, step in (await _steps(url, messages)).items():
            with timed(name):
                await step()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:  # a worker's loop
        runner.run(worker_side())
    return out


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.store", description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000, help="N (default 20000)")
    args = parser.parse_args(argv)
    n = max(1, args.messages)
    with redis_server() as url:
        rows = measure(url, n)
    table = Table(title=f"Record-keeping per message: {n:,} messages, AOF on")
    for col in ("step", "client µs/msg", "server µs/msg", "total µs/msg", "x baseline"):
        table.add_column(col, justify="left" if col == "step" else "right")
    base = rows[0][1] + rows[0][2]
    for name, c, s in rows:
        table.add_row(name, f"{c:.1f}", f"{s:.1f}", f"{c + s:.1f}", f"{(c + s) / base:.1f}")
    durable = sum(c + s for name, c, s in rows[1:])
    Console().print(table)
    print(f"every step of one message together: {durable:.0f} µs of CPU", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
