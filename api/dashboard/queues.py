"""What waits and what is held, read from the send engine's keys: the one module of the
dashboard that knows how the engine queues work and holds accounts and senders.

The engine keeps each account's waiting work in its ready queues (`keys.ready`, by due time),
what it metered onto Celery in `keys.out` and Celery's lane lists, account cooldowns in
`keys.cooldown` and sender holds in `keys.sender_hold`. When its keys change, only this module
changes; the pages read the shapes below.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import redis.asyncio as aredis

from sms import keys
from sms.holds import Hold, clock, found
from sms.message import Lane

LANES = tuple(lane.value for lane in Lane)


@dataclass(frozen=True, slots=True)
class Lanes:
    """Work not yet sent. `messages` counts messages due and waiting on each lane (None where
    the engine's keys do not say); `tasks` counts batches on Celery's lane lists; `oldest` is
    the epoch second the longest-waiting due message of a lane became due (None if unknown)."""

    messages: dict[str, int | None]
    tasks: dict[str, int]
    scheduled: int
    published: int
    oldest: dict[str, float | None] = field(default_factory=dict)


async def lanes(client: aredis.Redis, accounts: list[str]) -> Lanes:
    """The depth of every lane, over every account's ready queues, in one round trip."""
    moment = now()
    pipe = client.pipeline(transaction=False)
    for lane in LANES:
        pipe.llen(lane)
    for account in accounts:
        pipe.zcard(keys.out(account))
        for lane in LANES:
            pipe.zcount(keys.ready(account, lane), "-inf", moment)
            pipe.zcard(keys.ready(account, lane))
            pipe.zrange(keys.ready(account, lane), 0, 0, withscores=True)
    answers = await pipe.execute()
    tasks = {lane: int(n) for lane, n in zip(LANES, answers[: len(LANES)], strict=True)}
    due: dict[str, int | None] = dict.fromkeys(LANES, 0)
    oldest: dict[str, float | None] = dict.fromkeys(LANES, None)
    scheduled = published = 0
    rest = answers[len(LANES) :]
    per = 1 + 3 * len(LANES)
    for i in range(len(accounts)):
        row = rest[per * i : per * (i + 1)]
        published += int(row[0])
        for j, lane in enumerate(LANES):
            n_due, n_all, head = int(row[1 + 3 * j]), int(row[2 + 3 * j]), row[3 + 3 * j]
            due[lane] = (due[lane] or 0) + n_due
            scheduled += n_all - n_due
            if head and float(head[0][1]) <= moment:
                first = float(head[0][1])
                current = oldest[lane]
                oldest[lane] = first if current is None else min(current, first)
    return Lanes(due, tasks, scheduled, published, oldest)


class HoldScan:
    """Every sender hold's key, found by one SCAN of the keyspace (the hold keys are few, the
    keyspace may be large) and reused for `FRESH` seconds by every page that asks."""

    FRESH = 5.0

    def __init__(self) -> None:
        self.at = float("-inf")
        self.found: list[str] = []

    async def keys(self, client: aredis.Redis) -> list[str]:
        """The sender holds' keys, scanned again when the last scan is too old."""
        if time.monotonic() - self.at > self.FRESH:
            pattern = keys.sender_hold("*", "*")
            self.found = [str(k) async for k in client.scan_iter(match=pattern, count=1000)]
            self.at = time.monotonic()
        return self.found


async def holds(client: aredis.Redis, accounts: list[str], scan: HoldScan) -> dict[str, list[Hold]]:
    """Each account's holds in force: its cooldown, and its senders' holds (sms.holds)."""
    senders = await scan.keys(client)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    for account in accounts:
        pipe.get(keys.cooldown(account))
        pipe.pttl(keys.cooldown(account))
    for key in senders:
        pipe.get(key)
        pipe.pttl(key)
    server_time, *answers = await pipe.execute()
    moment = clock(server_time)  # the clock the holds' TTLs count on
    out: dict[str, list[Hold]] = {account: [] for account in accounts}
    for i, account in enumerate(accounts):
        cooling = found(account, None, answers[2 * i], int(answers[2 * i + 1]), moment)
        if cooling is not None:
            out[account].append(cooling)
    rest = answers[2 * len(accounts) :]
    for i, key in enumerate(senders):
        for account in accounts:
            prefix = keys.sender_holds(account)
            if key.startswith(prefix):
                sender = key[len(prefix) :]
                hold = found(account, sender, rest[2 * i], int(rest[2 * i + 1]), moment)
                if hold is not None:
                    out[account].append(hold)
    return out


def now() -> float:
    """The dashboard's clock (the engine's scripts use Redis TIME; the difference is small)."""
    return time.time()
