"""The runs of bench.throughput: (a) the ceiling, (b) the naive baseline, (c) Salvo end to end
and (d) its bookkeeping alone, each against the sandbox, each a `Result` with its CPU by role.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import aiohttp
import redis

from bench import naive
from bench.cpu import Usage, cpu_meter
from producer.api import Producer
from salvo.local import (
    SandboxControl,
    sandbox_accounts,
    stop_process,
    worker_process,
    write_config,
)
from sms import keys
from sms.message import TERMINAL, Message, Status, new_id
from sms.providers import adapter_for
from sms.providers.base import Adapter
from sms.settings import Settings

ACCOUNTS = ("justcall", "carrierx", "textingline", "skycore")
SENDERS = {
    "justcall": "+14155550100",
    "carrierx": "+14155550101",
    "textingline": "+14155550102",
    "skycore": "+14155550103",
}
AREAS = (201, 202, 212, 305, 312, 415, 617, 702, 713, 818)
FINISHED = {s.value for s in TERMINAL} | {Status.UNKNOWN.value}
ACCEPTED = (Status.SENT.value, Status.DELIVERED.value)

DEFAULT_MESSAGES = 20_000
QUICK_MESSAGES = 2_000
NAIVE_MAX = 3_000
ROUNDS = 3
IN_FLIGHT = 64
STALL = 30.0  # seconds without progress before a run is declared stuck
TARGET_CEILING = 0.6  # c >= 0.6 x a, by median (the send engine v2 issue)
TARGET_NAIVE = 10.0  # c >= 10 x b
CONFIGURED_RATE = 100_000.0  # requests/s per account in the run (c)


class BenchError(RuntimeError):
    """A run that did not do what it must (stuck, lost or duplicated messages)."""


# ----- the messages ---------------------------------------------------------------------------


def fields_of(i: int) -> tuple[str, str, str, str]:
    """(account, to, sender, body) of message `i`: round-robin over providers, unique bodies."""
    account = ACCOUNTS[i % len(ACCOUNTS)]
    j = i // len(ACCOUNTS)
    to = f"+1{AREAS[j % 10]}555{j // 10 % 10000:04d}"
    return account, to, SENDERS[account], f"Salvo bench #{i}: your code is {i * 7919 % 10**6:06d}"


def build_messages(n: int, campaign: str | None = None) -> list[Message]:
    """N validated messages (done before any clock starts)."""
    out = []
    for i in range(n):
        account, to, sender, body = fields_of(i)
        data = {"account": account, "to": to, "from": sender, "body": body, "campaign": campaign}
        out.append(Message.model_validate(data))
    return out


# ----- the sandbox's control API --------------------------------------------------------------


Sandbox = SandboxControl


@dataclass
class LedgerCheck:
    """The sandbox's ledger against the messages a run had to send."""

    accepted: int
    duplicates: int
    missing: int
    unexpected: int

    @property
    def ok(self) -> bool:
        """Every message accepted exactly once, nothing else."""
        return self.duplicates == 0 and self.missing == 0 and self.unexpected == 0

    def __str__(self) -> str:
        return (
            f"{self.accepted:,} accepted, {self.duplicates} duplicates, "
            f"{self.missing} missing, {self.unexpected} unexpected"
        )


def check_ledger(sandbox: Sandbox, n: int) -> LedgerCheck:
    """Compare the ledger to messages 0..n-1, by (provider, to, body)."""
    expected = {(a, to, body) for a, to, _, body in map(fields_of, range(n))}
    entries = sandbox.ledger()
    seen = Counter((e["provider"], "+" + e["to"].lstrip("+"), e["body"]) for e in entries)
    return LedgerCheck(
        accepted=len(entries),
        duplicates=sum(c - 1 for c in seen.values() if c > 1),
        missing=len(expected - seen.keys()),
        unexpected=len(seen.keys() - expected),
    )


# ----- results --------------------------------------------------------------------------------


@dataclass
class Result:
    """One run's figures."""

    name: str
    messages: int
    seconds: float
    ledger: LedgerCheck | None = None
    notes: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    @property
    def rate(self) -> float:
        """Messages per second."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def wait_for(done: Callable[[], int], n: int, what: str, poll: float = 0.02) -> float:
    """Poll `done()` until it reaches n; the monotonic time it did. BenchError if it stalls."""
    last, last_change = -1, time.monotonic()
    while True:
        count = done()
        now = time.monotonic()
        if count >= n:
            return now
        if count != last:
            last, last_change = count, now
        elif now - last_change > STALL:
            raise BenchError(f"{what}: stuck at {count:,}/{n:,} for {STALL:g} s")
        time.sleep(poll)


# ----- (a) the ceiling ------------------------------------------------------------------------


async def _post_all(
    adapters: dict[str, Adapter[Any]], messages: Sequence[Message], in_flight: int
) -> tuple[float, Counter[int]]:
    """Post every message with `in_flight` workers over one session per provider."""
    timeout = aiohttp.ClientTimeout(total=15)
    sessions = {
        name: aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=in_flight), timeout=timeout
        )
        for name in adapters
    }
    statuses: Counter[int] = Counter()
    queue = iter(messages)

    async def worker() -> None:
        for message in queue:
            request = adapters[message.account].build_request(message)
            async with sessions[message.account].request(
                request.method,
                request.url,
                data=json.dumps(request.json, separators=(",", ":")),
                headers={**request.headers, "Content-Type": "application/json"},
            ) as resp:
                await resp.read()
                statuses[resp.status] += 1

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return time.perf_counter() - t0, statuses
    finally:
        for session in sessions.values():
            await session.close()


def _ceiling_child(conn: Connection, sandbox_url: str, n: int, in_flight: int) -> None:
    try:
        settings = Settings(providers=sandbox_accounts(sandbox_url))
        adapters = {name: adapter_for(a) for name, a in settings.providers.items()}
        messages = build_messages(n)
        conn.send(("ready", None))
        conn.recv()  # the go signal, once the parent's CPU meter has started
        seconds, statuses = asyncio.run(_post_all(adapters, messages, in_flight))
        conn.send(("done", (seconds, dict(statuses))))
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def run_ceiling(sandbox: Sandbox, n: int, in_flight: int) -> Result:
    """(a) The raw aiohttp loop, in a process of its own."""
    sandbox.reset()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_ceiling_child, args=(child, sandbox.url, n, in_flight), daemon=True)
    proc.start()
    usage = Usage()
    try:
        if not parent.poll(120):
            raise BenchError("ceiling: the client process did not get ready")
        kind, payload = parent.recv()
        if kind != "ready":
            raise BenchError(f"ceiling: {payload}")
        with cpu_meter(usage):
            parent.send("go")
            if not parent.poll(max(STALL, n / 200)):
                raise BenchError("ceiling: no answer from the client process")
            kind, payload = parent.recv()
        if kind != "done":
            raise BenchError(f"ceiling: {payload}")
        seconds, statuses = cast(tuple[float, dict[int, int]], payload)
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.terminate()
            proc.join()
    result = Result("ceiling", n, seconds, check_ledger(sandbox, n), usage=usage)
    result.notes.append(f"{in_flight} in flight; HTTP {dict(sorted(statuses.items()))}")
    result.messages = result.ledger.accepted if result.ledger else n
    return result


# ----- (b) the naive baseline -----------------------------------------------------------------


@contextlib.contextmanager
def naive_worker(broker_url: str, accounts: dict[str, Any], tmp: Path) -> Iterator[None]:
    """The naive Celery worker (prefork, two processes) for the block, seen ready before."""
    ready = tmp / "naive.ready"
    log = tmp / "naive.log"
    env = {
        **os.environ,
        naive.BROKER_ENV: broker_url,
        naive.ACCOUNTS_ENV: json.dumps(accounts),
        naive.READY_ENV: str(ready),
    }
    cmd = [sys.executable, "-m", "celery", "-A", "bench.naive", "worker", "--pool", "prefork"]
    cmd += ["--concurrency", "2", "-Q", naive.QUEUE, "-n", "naive@%h", "--loglevel", "WARNING"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-2000:]
                raise BenchError(f"naive worker did not start:\n{tail}")
            time.sleep(0.1)
        yield
    finally:
        stop_process(proc, timeout=30)


def run_naive(sandbox: Sandbox, redis_url: str, n: int, tmp: Path) -> Result:
    """(b) One Celery task per message, a session per call, on a private DB and queue."""
    broker = redis_url.rsplit("/", 1)[0] + "/2"  # Salvo uses /0; nothing else looks at /2
    accounts = sandbox_accounts(sandbox.url)
    app = naive.make_app(broker)
    usage = Usage()
    try:
        with naive_worker(broker, accounts, tmp):
            sandbox.reset()
            with cpu_meter(usage):
                t0 = time.monotonic()
                for i in range(n):
                    app.send_task(naive.TASK, args=fields_of(i), queue=naive.QUEUE)
                enqueued = time.monotonic() - t0
                t1 = wait_for(sandbox.accepted, n, "naive")
    finally:
        app.close()
    result = Result("naive", n, t1 - t0, check_ledger(sandbox, n), usage=usage)
    result.notes.append(f"enqueue {enqueued:.2f} s")
    return result


# ----- (c) Salvo end to end -------------------------------------------------------------------


def run_salvo(
    sandbox: Sandbox,
    redis_url: str,
    n: int,
    tmp: Path,
    rate: float | None = None,
    *,
    dry: bool = False,
) -> Result:
    """(c) Producer.send_many -> two `salvo worker`s (their defaults: one process each, the
    threads pool) -> sandbox -> status recorded.

    With `rate`, every account is configured with that rate (so none is learnt from 2/s up).
    With `dry`, run (d): the worker answers every provider call itself (bench/dry_worker.py),
    and nothing reaches the sandbox.
    """
    providers = sandbox_accounts(sandbox.url, **({} if rate is None else {"rate": rate}))
    config = write_config(tmp / f"salvo-{rate or 'learnt'}.toml", redis_url, providers)
    settings = Settings.load(config)
    campaign = f"bench-{new_id()[:12]}"
    messages = build_messages(n, campaign)
    counts_key = keys.campaign_counts(campaign)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    usage = Usage()

    def finished() -> int:
        counts = cast(dict[str, str], client.hgetall(counts_key))
        return sum(int(v) for k, v in counts.items() if k in FINISHED)

    try:
        module = "bench.dry_worker" if dry else "salvo.cli"
        with (
            worker_process(config, redis_url, ("-n", "bench-one@%h"), module=module),
            worker_process(config, redis_url, ("-n", "bench-two@%h"), module=module),
        ):
            producer = Producer(settings)
            try:
                sandbox.reset()
                with cpu_meter(usage):
                    t0 = time.monotonic()
                    producer.send_many(messages)
                    enqueued = time.monotonic() - t0
                    t1 = wait_for(finished, n, "salvo")
            finally:
                producer.close()
        counts = {k: int(v) for k, v in cast(dict[str, str], client.hgetall(counts_key)).items()}
    finally:
        client.close()
    name = "dry" if dry else "salvo-learnt" if rate is None else "salvo"
    ledger = None if dry else check_ledger(sandbox, n)
    result = Result(name, n, t1 - t0, ledger, usage=usage)
    sent = sum(counts.get(s, 0) for s in ACCEPTED)
    result.notes.append(f"enqueue {enqueued:.2f} s ({n / enqueued:,.0f} msgs/s)")
    if sent != n:
        others = {k: v for k, v in counts.items() if k in FINISHED and k not in ACCEPTED and v}
        result.notes.append(f"only {sent:,} recorded sent: {others}")
        if dry:  # no provider to blame: every message must have been recorded sent
            raise BenchError(f"bookkeeping alone: only {sent:,} of {n:,} recorded sent")
    return result
