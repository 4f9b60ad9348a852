"""The accounts page: each account's configured and learnt rate, the holds in force and why,
what it accepted and failed in the last minute and hour, and its provider's latency."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from api.dashboard import queues
from api.dashboard.history import RECENT, Change, quantile
from api.dashboard.render import page
from api.shared import PRODUCER, REDIS, SETTINGS
from producer.overview import overview, rate_text
from sms.holds import Hold
from sms.plural import counted

MINUTE, HOUR = 60.0, 3600.0
LATENCY_WINDOW = 300.0  # seconds over which latency percentiles are taken
ACCEPTED = "outcome:accepted"
FAILED = "status:failed"
RATE_LIMITED = "outcome:rate_limited"


@dataclass(frozen=True, slots=True)
class Account:
    """An account as the page shows it."""

    name: str
    kind: str | None
    rate: str
    holds: list[Hold]
    minute: Change
    hour: Change
    latency: Change
    totals: dict[str, int]

    @property
    def p50(self) -> float | None:
        """Median provider call time over the latency window, in seconds."""
        return quantile(self.latency, 0.5)

    @property
    def p99(self) -> float | None:
        """99th percentile provider call time over the latency window, in seconds."""
        return quantile(self.latency, 0.99)

    @property
    def now_rate(self) -> float | None:
        """Accepted per second over the last minute."""
        return self.minute.per_second(ACCEPTED)


async def accounts_page(request: web.Request) -> web.Response:
    """Every account configured or ever sent through."""
    settings = request.app[SETTINGS]
    data: dict[str, Any] = await asyncio.to_thread(overview, request.app[PRODUCER].redis, settings)
    names = list(data["accounts"])
    holds = await queues.holds(request.app[REDIS], names, request.app[RECENT].holds)
    recent = request.app[RECENT]
    accounts = []
    for name, info in data["accounts"].items():
        series = recent.account(name)
        accounts.append(
            Account(
                name=name,
                kind=info["kind"],
                rate=rate_text(info),
                holds=holds.get(name, []),
                minute=series.change(MINUTE),
                hour=series.change(HOUR),
                latency=series.change(LATENCY_WINDOW),
                totals=info["counters"],
            )
        )
    return page(
        request,
        "accounts.html",
        accounts=accounts,
        workers=counted(data["workers"], "worker"),
        fields={"accepted": ACCEPTED, "failed": FAILED, "rate_limited": RATE_LIMITED},
        live=True,
        title="Accounts",
    )
