"""The reminders page: the transactional lane's health, how much waits and for how long."""

from __future__ import annotations

from aiohttp import web

from api.dashboard import queues
from api.dashboard.history import EVERY, RECENT
from api.dashboard.render import page
from api.shared import REDIS, SETTINGS
from sms.message import Lane

WINDOW = 300.0  # seconds over which reminders' waits are summed up


async def reminders_page(request: web.Request) -> web.Response:
    """What waits on each lane, transactional first, and how long reminders waited lately."""
    accounts = sorted(request.app[SETTINGS].providers)
    lanes = await queues.lanes(request.app[REDIS], accounts)
    waits = request.app[RECENT].reminders.summary(WINDOW)
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
