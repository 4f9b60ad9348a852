"""Claims and outcomes of concurrent sends, written to Redis together: one pipeline for many.

Each send still claims its message (claim.lua) right before it goes out and records its outcome
(move.lua) as soon as it has it, each in its own atomic script; the recorder only lets the
scripts of sends that reach those points at about the same time share one round trip, with the
account counters (sms/metrics.py) that go with the outcomes.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sms import keys
from sms.store import AsyncStore, Move

MAX_PIPELINE = 256


@dataclass
class _Claim:
    message_id: str
    account: str
    campaign: str | None
    owner: str
    lease: float
    done: asyncio.Future[list[Any]] = field(repr=False)


@dataclass
class _Entry:
    move: Move
    counters: dict[str, float]
    done: asyncio.Future[bool] = field(repr=False)


class Recorder:
    """Collects moves from concurrent coroutines and flushes them in pipelines."""

    def __init__(self, store: AsyncStore) -> None:
        self.store = store
        self._pending: list[_Entry | _Claim] = []
        self._flusher: asyncio.Task[None] | None = None

    async def claim(
        self, message_id: str, account: str, campaign: str | None, owner: str, lease: float
    ) -> list[Any]:
        """Claim one message for sending; the claim script's answer."""
        loop = asyncio.get_running_loop()
        entry = _Claim(message_id, account, campaign, owner, lease, loop.create_future())
        self._enqueue(entry, loop)
        return await entry.done

    async def record(self, move: Move, counters: dict[str, float] | None = None) -> bool:
        """Record one outcome (and add `counters` to the account's stats); True if it moved."""
        loop = asyncio.get_running_loop()
        entry = _Entry(move, counters or {}, loop.create_future())
        self._enqueue(entry, loop)
        return await entry.done

    def _enqueue(self, entry: _Entry | _Claim, loop: asyncio.AbstractEventLoop) -> None:
        self._pending.append(entry)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the sends finishing now add theirs
            while self._pending:
                batch, self._pending = self._pending[:MAX_PIPELINE], self._pending[MAX_PIPELINE:]
                try:
                    moved = await self._write(batch)
                except Exception as exc:  # every waiting send hears of the failure
                    for entry in batch:
                        if not entry.done.done():
                            entry.done.set_exception(exc)
                    continue
                for entry, answer in zip(batch, moved, strict=True):
                    if not entry.done.done():
                        entry.done.set_result(answer)
        finally:
            self._flusher = None

    async def _write(self, batch: list[_Entry | _Claim]) -> list[Any]:
        pipe = self.store.redis.pipeline(transaction=False)
        totals: dict[tuple[str, str], float] = defaultdict(float)
        for entry in batch:
            if isinstance(entry, _Claim):
                await self.store.claim_into(
                    pipe, entry.message_id, entry.account, entry.campaign, entry.owner, entry.lease
                )
                continue
            await self.store.move_into(pipe, entry.move)
            for name, n in entry.counters.items():
                totals[(entry.move.account, name)] += n
        for (account, name), n in totals.items():
            if n == int(n):
                pipe.hincrby(keys.stats(account), name, int(n))
            else:
                pipe.hincrbyfloat(keys.stats(account), name, n)
        results = await pipe.execute()
        return [
            r if isinstance(e, _Claim) else bool(r) for e, r in zip(batch, results, strict=False)
        ]
