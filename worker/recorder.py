"""Claims and outcomes of concurrent sends, written to Redis together: one pipeline for many.

Each send still claims its message right before it goes out and records its outcome as soon as
it has it; the recorder lets the sends that reach those points at about the same time share one
round trip: one claim.lua call for their claims, one move.lua call for their outcomes (each
script applies every entry on its own terms, atomically), and the account counters
(sms/metrics.py) that go with the outcomes.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

from sms import keys
from sms.store import AsyncStore, Claimed, Move

MAX_PIPELINE = 256


@dataclass
class _Claim:
    message_id: str
    account: str
    owner: str
    lease: float
    done: asyncio.Future[Claimed] = field(repr=False)


@dataclass
class _Entry:
    move: Move
    counters: dict[str, float]
    done: asyncio.Future[int] = field(repr=False)


class Recorder:
    """Collects moves from concurrent coroutines and flushes them in pipelines."""

    def __init__(self, store: AsyncStore) -> None:
        self.store = store
        self._pending: list[_Entry | _Claim] = []
        self._flusher: asyncio.Task[None] | None = None

    async def claim(self, message_id: str, account: str, owner: str, lease: float) -> Claimed:
        """Claim and read one message for sending (claim.lua's answer for it)."""
        loop = asyncio.get_running_loop()
        entry = _Claim(message_id, account, owner, lease, loop.create_future())
        self._enqueue(entry, loop)
        return await entry.done

    async def record(self, move: Move, counters: dict[str, float] | None = None) -> int:
        """Record one outcome (and add `counters` to the account's stats); move.lua's answer:
        0 when the record was not where the move expected, else 1, or 2 when receipts are held
        for the provider id it recorded (store.MOVED_WITH_HELD_RECEIPTS)."""
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
        """One round trip: a claim.lua call per (owner, lease, account) and one move.lua call for
        every outcome with its counters; each entry's answer, in order."""
        claims: dict[tuple[str, float, str], list[int]] = defaultdict(list)
        moves: list[int] = []
        counters: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        for i, entry in enumerate(batch):
            if isinstance(entry, _Claim):
                claims[(entry.owner, entry.lease, entry.account)].append(i)
                continue
            moves.append(i)
            stats = counters[keys.stats(entry.move.account)]
            for name, n in entry.counters.items():
                stats[name] += n
        calls = []
        for (owner, lease, account), where in claims.items():
            ids = [cast(_Claim, batch[i]).message_id for i in where]
            calls.append(self.store.claim_call(ids, account, owner, lease))
        if moves:
            outcomes = [cast(_Entry, batch[i]).move for i in moves]
            calls.append(self.store.move_call(outcomes, counters))
        results = await self.store.run(calls)
        answers: list[Any] = [None] * len(batch)
        for where, replies in zip(claims.values(), results, strict=False):
            for i, reply in zip(where, replies, strict=True):
                answers[i] = Claimed.from_reply(reply)
        if moves:
            for i, moved in zip(moves, results[-1], strict=True):
                answers[i] = int(moved)
        return answers
