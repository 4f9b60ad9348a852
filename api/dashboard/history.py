"""Recent history of the counters Redis keeps only as running totals, for rates over windows.

Workers count per account (`keys.stats`) and per campaign (`keys.campaign_counts`) from the
start; "accepted in the last minute" or "sent per second now" is a difference between two
readings. A task in each `salvo api` process reads those counters every `EVERY` seconds and
keeps an hour of readings in memory; the pages take differences from it. A process that
started less than an hour ago says how far back it can see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aredis
import redis.exceptions
from aiohttp import web

from api.dashboard import queues
from api.shared import REDIS, SETTINGS
from sms import keys
from sms.metrics import LATENCY_BOUNDS

EVERY = 2.0  # seconds between readings
KEEP = 3600.0 + 60.0  # seconds of readings kept
CAMPAIGNS_WATCHED = 100  # newest campaigns read each time
ACTIVE = ("running", "paused")

log = logging.getLogger("salvo.api.dashboard")


@dataclass(frozen=True, slots=True)
class Change:
    """How much a counter grew over a window, and how long the window really was (shorter than
    asked when the readings do not reach that far back)."""

    by: dict[str, float]
    seconds: float

    def total(self, *fields: str) -> float:
        """The growth of the named fields together."""
        return sum(self.by.get(f, 0.0) for f in fields)

    def per_second(self, *fields: str) -> float | None:
        """The named fields' growth per second (None over an empty window)."""
        return self.total(*fields) / self.seconds if self.seconds > 0 else None


class Series:
    """Readings of one group of counters, oldest first, at most `KEEP` seconds old."""

    def __init__(self) -> None:
        self.readings: deque[tuple[float, dict[str, float]]] = deque()

    def add(self, at: float, values: dict[str, float]) -> None:
        """Keep a reading, and forget those too old to matter."""
        self.readings.append((at, values))
        while self.readings and self.readings[0][0] < at - KEEP:
            self.readings.popleft()

    def change(self, window: float, now: float | None = None) -> Change:
        """Growth of every field over the last `window` seconds (counters only grow; one that
        was reset counts from zero)."""
        if len(self.readings) < 2:
            return Change({}, 0.0)
        now = time.time() if now is None else now
        last_at, last = self.readings[-1]
        first_at, first = self.readings[0]
        for at, values in self.readings:
            if at >= now - window:
                first_at, first = at, values
                break
        by = {f: v - first.get(f, 0.0) if v >= first.get(f, 0.0) else v for f, v in last.items()}
        return Change(by, last_at - first_at)


def quantile(
    change: Change,
    q: float,
    prefix: str = "latency_le:",
    bounds: tuple[float, ...] = LATENCY_BOUNDS,
) -> float | None:
    """The `q` quantile over a change of a histogram's buckets (`{prefix}{bound}`, each
    counting what fell above the bound below it, up to its own; by default the provider call
    latency), interpolated within its bucket as Prometheus does; None when empty. Past the last
    bound: that bound."""
    counts = [change.by.get(f"{prefix}{b!r}", 0.0) for b in bounds]
    counts.append(change.by.get(f"{prefix}+Inf", 0.0))
    total = sum(counts)
    if total <= 0:
        return None
    rank, seen, lower = q * total, 0.0, 0.0
    for bound, count in zip((*bounds, bounds[-1]), counts, strict=True):
        if count and seen + count >= rank:
            return lower + (bound - lower) * (rank - seen) / count
        seen += count
        lower = bound
    return bounds[-1]


def merged(changes: Iterable[Change]) -> Change:
    """Several series' changes as one (fields summed; the longest window)."""
    by: dict[str, float] = {}
    seconds = 0.0
    for change in changes:
        for name, value in change.by.items():
            by[name] = by.get(name, 0.0) + value
        seconds = max(seconds, change.seconds)
    return Change(by, seconds)


class Recent:
    """The readings of every account's and every active campaign's counters."""

    def __init__(self) -> None:
        self.accounts: dict[str, Series] = {}
        self.campaigns: dict[str, Series] = {}
        self.holds = queues.HoldScan()
        self.started = time.time()

    def account(self, name: str) -> Series:
        """The readings of one account's counters (empty if none were taken)."""
        return self.accounts.get(name, Series())

    def campaign(self, campaign_id: str) -> Series:
        """The readings of one campaign's counts by status."""
        return self.campaigns.get(campaign_id, Series())

    async def read(self, client: aredis.Redis, accounts: Iterable[str]) -> None:
        """Take one reading of every account and every running or paused campaign."""
        names = sorted(set(accounts) | cast(set[str], await client.smembers(keys.ACCOUNTS)))
        newest = cast(list[str], await client.zrevrange(keys.CAMPAIGNS, 0, CAMPAIGNS_WATCHED - 1))
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(keys.stats(name))
        for cid in newest:
            pipe.hget(keys.campaign(cid), "state")
            pipe.hgetall(keys.campaign_counts(cid))
        answers = await pipe.execute()
        at = time.time()
        for name, stats in zip(names, answers[: len(names)], strict=True):
            self.accounts.setdefault(name, Series()).add(at, numbers(stats))
        rest = answers[len(names) :]
        for i, cid in enumerate(newest):
            state, counts = rest[2 * i] or "running", rest[2 * i + 1]
            if state in ACTIVE or cid in self.campaigns:
                values = numbers(counts)
                waiting = values.get("queued", 0.0) + values.get("sending", 0.0)
                values["done"] = values.get("total", 0.0) - waiting
                self.campaigns.setdefault(cid, Series()).add(at, values)


def numbers(fields: dict[str, str]) -> dict[str, float]:
    """A Redis hash of counters as floats (fields that are not numbers are left out)."""
    out: dict[str, float] = {}
    for name, value in fields.items():
        with contextlib.suppress(ValueError):
            out[name] = float(value)
    return out


RECENT = web.AppKey("dashboard_recent", Recent)


async def sampling(app: web.Application) -> AsyncIterator[None]:
    """Keep `app[RECENT]` up to date while the application runs."""
    recent = app[RECENT] = Recent()

    async def loop() -> None:
        while True:
            try:
                await recent.read(app[REDIS], app[SETTINGS].providers)
            except (redis.exceptions.RedisError, OSError) as exc:
                log.warning("dashboard: reading counters failed: %s", exc)
            except Exception:  # a record it cannot read must not end the readings for good
                log.exception("dashboard: reading counters failed")
            await asyncio.sleep(EVERY)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
