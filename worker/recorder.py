"""Outcomes of concurrent sends, written to Redis together: one pipeline for many moves.

Each send still records its own outcome in its own atomic script (move.lua) as soon as it has
it; the recorder only lets the scripts of sends that finish at about the same time share one
round trip, with the account counters (sms/metrics.py) that go with them.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field

from sms import keys
from sms.store import AsyncStore, Move

MAX_PIPELINE = 256


@dataclass
class _Entry:
    move: Move
    counters: dict[str, float]
    done: asyncio.Future[bool] = field(repr=False)


class Recorder:
    """Collects moves from concurrent coroutines and flushes them in pipelines."""

    def __init__(self, store: AsyncStore) -> None:
        self.store = store
        self._pending: list[_Entry] = []
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, move: Move, counters: dict[str, float] | None = None) -> bool:
        """Record one outcome (and add `counters` to the account's stats); True if it moved."""
        loop = asyncio.get_running_loop()
        entry = _Entry(move, counters or {}, loop.create_future())
        self._pending.append(entry)
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await entry.done

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
                for entry, ok in zip(batch, moved, strict=True):
                    if not entry.done.done():
                        entry.done.set_result(ok)
        finally:
            self._flusher = None

    async def _write(self, batch: list[_Entry]) -> list[bool]:
        pipe = self.store.redis.pipeline(transaction=False)
        totals: dict[tuple[str, str], float] = defaultdict(float)
        for entry in batch:
            await self.store.move_into(pipe, entry.move)
            for name, n in entry.counters.items():
                totals[(entry.move.account, name)] += n
        for (account, name), n in totals.items():
            if n == int(n):
                pipe.hincrby(keys.stats(account), name, int(n))
            else:
                pipe.hincrbyfloat(keys.stats(account), name, n)
        results = await pipe.execute()
        return [bool(r) for r in results[: len(batch)]]
