"""How long reminders wait from enqueue to the provider's acceptance, from a sample.

No counter says it (workers count provider call times, not waits), so each reading the
dashboard takes (history.py) also notes the transactional messages it finds waiting in their
ready queues (`queues.due_ids`), and later reads each one's record: once it is sent, its wait
is the time of its `sent` history line less its creation (or its `send_at`, if later). A
reminder that comes and goes between two readings is never seen, so the sample holds the ones
that waited at least a reading's interval: when it is empty, every reminder left within that.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aredis

from sms import keys
from sms.message import Status
from sms.store import Record

TRACKED = 1000  # reminders followed at once
KEEP = 900.0  # seconds of finished waits kept
ACCEPTED = {Status.SENT, Status.DELIVERED, Status.UNDELIVERED}
WAITING = {Status.QUEUED, Status.SENDING}


@dataclass(frozen=True, slots=True)
class Summary:
    """The waits of the reminders seen, over a window: how many, and their p50 and p99."""

    seen: int
    p50: float | None
    p99: float | None


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank `q` percentile of `values` (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def waited(record: Record) -> tuple[float, float] | None:
    """When the provider accepted the message, and the seconds from its enqueue (or its
    `send_at`) to then; None if it was not accepted."""
    if record.status not in ACCEPTED:
        return None
    accepted = next((h.at for h in record.history if h.status == Status.SENT.value), None)
    if accepted is None:
        return None
    start = record.created
    if record.message.send_at is not None:
        start = max(start, record.message.send_at.timestamp())
    return accepted, max(0.0, accepted - start)


class Waits:
    """Reminders being followed, and the waits of those that were accepted."""

    def __init__(self) -> None:
        self.tracked: dict[str, None] = {}
        self.finished: deque[tuple[float, float]] = deque()  # (accepted at, seconds waited)

    def watch(self, ids: list[str]) -> None:
        """Follow these reminders (while fewer than TRACKED are followed)."""
        for mid in ids:
            if len(self.tracked) >= TRACKED:
                return
            self.tracked.setdefault(mid)

    async def settle(self, client: aredis.Redis) -> None:
        """Read every followed reminder; keep the waits of the accepted, drop the ended."""
        ids = list(self.tracked)
        if not ids:
            return
        pipe = client.pipeline(transaction=False)
        for mid in ids:
            pipe.hgetall(keys.message(mid))
        for mid, raw in zip(ids, await pipe.execute(), strict=True):
            fields = cast(dict[str, str], raw)
            if not fields:
                self.tracked.pop(mid, None)
                continue
            try:
                record = Record.from_hash(mid, fields)
            except (ValueError, KeyError):  # pydantic's ValidationError is a ValueError
                self.tracked.pop(mid, None)
                continue
            if record.status in WAITING:
                continue
            self.tracked.pop(mid, None)
            wait = waited(record)
            if wait is not None:
                self.finished.append(wait)
        while self.finished and self.finished[0][0] < time.time() - KEEP:
            self.finished.popleft()

    def summary(self, window: float, now: float | None = None) -> Summary:
        """The waits of reminders accepted in the last `window` seconds."""
        since = (time.time() if now is None else now) - window
        values = [s for at, s in self.finished if at >= since]
        return Summary(len(values), percentile(values, 0.5), percentile(values, 0.99))
