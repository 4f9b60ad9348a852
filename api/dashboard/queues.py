"""What waits and what is held, read from the send engine's keys: the one module of the
dashboard that knows how the engine queues work and holds accounts and senders.

Today the engine keeps due work in the global schedule (`keys.SCHEDULE`), published work in
`keys.PENDING` and Celery's lane lists, and account cooldowns (`keys.cooldown`). When its keys
change, only this module changes; the pages read the shapes below.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import cast

import redis.asyncio as aredis

from sms import keys
from sms.message import Lane

LANES = tuple(lane.value for lane in Lane)


@dataclass(frozen=True, slots=True)
class Hold:
    """An account (sender None) or one of its senders paused for every worker, and why."""

    account: str
    sender: str | None
    reason: str
    seconds: float  # left


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
    """The depth of every lane, in one round trip."""
    pipe = client.pipeline(transaction=False)
    for lane in LANES:
        pipe.llen(lane)
    pipe.zcard(keys.SCHEDULE)
    pipe.zcard(keys.PENDING)
    *tasks, scheduled, published = await pipe.execute()
    return Lanes(
        messages=dict.fromkeys(LANES, None),
        tasks={lane: int(n) for lane, n in zip(LANES, tasks, strict=True)},
        scheduled=int(scheduled),
        published=int(published),
        oldest=dict.fromkeys(LANES, None),
    )


async def holds(client: aredis.Redis, accounts: list[str]) -> dict[str, list[Hold]]:
    """Each account's holds in force: its cooldown, and (once the engine has them) its senders'."""
    pipe = client.pipeline(transaction=False)
    for account in accounts:
        pipe.get(keys.cooldown(account))
        pipe.pttl(keys.cooldown(account))
    answers = await pipe.execute()
    out: dict[str, list[Hold]] = {account: [] for account in accounts}
    for i, account in enumerate(accounts):
        reason, pttl = cast(tuple[str | None, int], tuple(answers[2 * i : 2 * i + 2]))
        if reason is not None and pttl != -2:
            seconds = max(0, pttl) / 1000 if pttl >= 0 else float("inf")
            out[account].append(Hold(account, None, reason, seconds))
    return out


def now() -> float:
    """The dashboard's clock (the engine's scripts use Redis TIME; the difference is small)."""
    return time.time()
