"""A semaphore that lets transactional sends in first.

A worker process holds bulk and transactional ids of one account at once; both wait for a place
among the account's calls in flight and for its tokens. With a plain FIFO semaphore a reminder
would queue behind every bulk id the process already holds; here whoever waits with the lower
priority number goes first, and waiters of one priority go in arrival order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

#: Priorities: lower goes first.
TRANSACTIONAL, BULK = 0, 1


class PriorityGate:
    """At most `places` holders at once; waiters are let in by (priority, arrival)."""

    def __init__(self, places: int) -> None:
        self._places = places
        self._free = places
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self, priority: int) -> None:
        """Wait for a place (lower `priority` first)."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the place was handed over as it was cancelled: pass it on
            raise

    def waiting(self) -> int:
        """How many wait for a place."""
        return len(self._waiting)

    def idle(self) -> bool:
        """No place is held and nobody waits (a place would be granted at once)."""
        return self._free == self._places and not self._waiting

    def release(self) -> None:
        """Give the place to the first waiter still waiting, else free it."""
        while self._waiting:
            _, _, future = heapq.heappop(self._waiting)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1

    @asynccontextmanager
    async def hold(self, priority: int) -> AsyncIterator[None]:
        """`async with gate.hold(priority):` a place for the block."""
        await self.acquire(priority)
        try:
            yield
        finally:
            self.release()
