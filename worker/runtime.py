"""What one worker process keeps for its whole life: an event loop, Redis, sessions, adapters.

The loop runs in a thread of its own. Celery's pool threads hand it their batches
(`Runtime.run`), so every batch the process holds sends on the one loop at once, and the calls
in flight are bounded by each account's `max_in_flight`, not by the number of pool slots.
Created lazily in the process that runs tasks, with a pid check, so no loop, socket or session
ever crosses a fork (the prefork and solo pools work too, one batch at a time per process).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import threading
import uuid
from typing import Any

import aiohttp
import redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from sms.connect import async_client
from sms.gate import Checker, Gate
from sms.providers import adapter_for
from sms.providers.base import Adapter
from sms.receipts import ReceiptStore, receipt_url
from sms.settings import Settings
from sms.store import AsyncStore
from worker.gate import PriorityGate
from worker.holds import Holds
from worker.pacing import Pacer
from worker.recorder import Recorder

log = logging.getLogger("salvo.worker")

RETRIES = 30  # about 25 s of a server that does not answer before a command gives up


class Runtime:
    """One process's loop, Redis client, per-account sessions, adapters and in-flight limits."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self.name = f"{os.uname().nodename}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.loop = _new_loop()
        self.redis = async_client(
            redis_url,
            decode_responses=True,
            # Ride out a server restart (AOF brings the data back): a command whose reply was
            # lost is sent again, which every script here is written to survive.
            retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), RETRIES),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        )
        self.store = AsyncStore(self.redis, retention=settings.idempotency_retention)
        self.pacer = Pacer(settings, self.redis)
        self.recorder = Recorder(self.store)
        self.holds = Holds(self.redis)
        self.receipts = ReceiptStore(self.redis, retention=settings.idempotency_retention)
        self.audience = Checker(Gate(settings), self.redis)  # opt-outs, quiet hours (sms/gate.py)
        self.adapters: dict[str, Adapter[Any]] = {
            name: adapter_for(account) for name, account in settings.providers.items()
        }
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._limits: dict[str, PriorityGate] = {}
        self._preparing: dict[str, PriorityGate] = {}
        _tune_gc()
        self._thread = threading.Thread(target=self._serve, name="salvo-loop", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def session(self, account: str) -> aiohttp.ClientSession:
        """The account's one aiohttp session, made on first use on this process's loop."""
        session = self._sessions.get(account)
        if session is None or session.closed:
            limit = self.settings.providers[account].max_in_flight
            connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300)
            session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
            self._sessions[account] = session
        return session

    def in_flight(self, account: str) -> PriorityGate:
        """Bounds this process's concurrent calls to one account; transactional sends first."""
        return self._gate(self._limits, account)

    def preparing(self, account: str) -> PriorityGate:
        """Bounds this process's sends of one account between their token and their call
        (token, claim, send-time checks, waiting for a call's place) to `max_in_flight`;
        transactional sends first."""
        return self._gate(self._preparing, account)

    def _gate(self, gates: dict[str, PriorityGate], account: str) -> PriorityGate:
        """The account's gate in `gates`, of `max_in_flight` places, made on first use."""
        gate = gates.get(account)
        if gate is None:
            gate = gates[account] = PriorityGate(self.settings.providers[account].max_in_flight)
        return gate

    def receipt_url(self, account: str, message_id: str) -> str | None:
        """Where the provider should post this message's receipts, when Salvo is reachable."""
        return receipt_url(self.settings, account, message_id)

    def run(self, coro: Any) -> Any:
        """Run a coroutine on this process's loop, beside every other, and wait for its end."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        """Close sessions and Redis; called when the process exits."""

        async def _close() -> None:
            for session in self._sessions.values():
                await session.close()
            await self.redis.aclose()

        try:
            self.run(_close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
            if not self.loop.is_running():
                self.loop.close()


#: Allocations between two young-generation collections (Python's default is 700). A send
#: allocates a few hundred short-lived objects; at the default the collector ran several times
#: per batch and took about a fifth of a worker's CPU (bench/throughput.py's run (c)).
GC_YOUNG = 20_000


def _tune_gc() -> None:
    """Collect less often, and never scan what the process holds for its whole life: the
    imported modules, Celery's state, this runtime (`gc.freeze` moves them out of the
    collector's sight)."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG, 20, 20)


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (it roughly halves the loop's own cost), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


_runtime: Runtime | None = None
_config: tuple[Settings, str] | None = None
_lock = threading.Lock()  # pool threads may ask for the runtime at the same moment


def configure(settings: Settings, redis_url: str) -> None:
    """Tell this process (and the children it forks) which settings and server to use."""
    global _config
    _config = (settings, redis_url)


def current() -> Runtime:
    """This process's runtime, created on first use after any fork."""
    global _runtime
    with _lock:
        if _runtime is None or _runtime.pid != os.getpid():
            if _config is None:
                raise RuntimeError("worker runtime used before worker.runtime.configure()")
            _runtime = Runtime(*_config)
        return _runtime


def shutdown() -> None:
    """Close this process's runtime if it has one."""
    global _runtime
    with _lock:
        if _runtime is not None and _runtime.pid == os.getpid():
            _runtime.close()
        _runtime = None
