"""`python -m bench.dry_worker --config F worker ...`: `salvo worker` with no provider call.

For bench.throughput's run (d) only. Every adapter's `send` answers "accepted" at once, without
building a request or touching the network; everything else the worker does (the read, the
triage, pacing, the claim, the outcome and its counters, Celery) is the real code. So (d)
measures what Salvo's own bookkeeping costs per message, apart from the HTTP exchange that run
(a) measures alone.
"""

from __future__ import annotations

import aiohttp

from salvo.cli import main
from sms.message import Message
from sms.providers.base import Adapter, Outcome, OutcomeKind


async def _accept(
    self: Adapter[object],  # type: ignore[type-var]
    session: aiohttp.ClientSession,
    message: Message,
    *,
    receipt_url: str | None = None,
) -> Outcome:
    return Outcome(OutcomeKind.ACCEPTED, "accepted (no provider call)", f"dry-{message.id}")


Adapter.send = _accept  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    main()
