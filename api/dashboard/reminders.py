"""The reminders page: the transactional lane's health, how much waits and for how long."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from api.dashboard import queues
from api.dashboard.history import EVERY, RECENT, merged, quantile
from api.dashboard.render import page
from api.shared import REDIS, SETTINGS
from sms.message import Lane
from sms.metrics import WAIT_BOUNDS

WINDOW = 300.0  # seconds over which reminders' waits are summed up
PREFIX = f"wait_le:{Lane.TRANSACTIONAL.value}:"  # the workers' histogram of reminders' waits


@dataclass(frozen=True, slots=True)
class Summary:
    """Reminders accepted over the window: how many, and the p50 and p99 of their waits from
    enqueue (or `send_at`) to the provider's acceptance."""

    seen: int
    p50: float | None
    p99: float | None


async def reminders_page(request: web.Request) -> web.Response:
    """What waits on each lane, transactional first, and how long reminders waited lately."""
    accounts = sorted(request.app[SETTINGS].providers)
    lanes = await queues.lanes(request.app[REDIS], accounts)
    recent = request.app[RECENT]
    change = merged(recent.account(a).change(WINDOW) for a in recent.accounts)
    seen = int(change.total(f"wait_count:{Lane.TRANSACTIONAL.value}"))
    waits = Summary(
        seen,
        quantile(change, 0.5, PREFIX, WAIT_BOUNDS),
        quantile(change, 0.99, PREFIX, WAIT_BOUNDS),
    )
    return page(
        request,
        "reminders.html",
        lanes=lanes,
        waits=waits,
        window=WINDOW,
        every=EVERY,
        order=[Lane.TRANSACTIONAL.value, Lane.BULK.value],
        now=queues.now(),
        live=True,
        title="Reminders",
    )
