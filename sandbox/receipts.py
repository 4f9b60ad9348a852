"""Delivery receipts: after a delay, POST "sent" then a final status in the provider's shape."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:
    from sandbox.provider import Provider
    from sandbox.state import Message

_HEADERS = {"Content-Type": "application/json"}


class Receipts:
    """Schedules receipt tasks on one shared ClientSession; never blocks a send answer."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Create the shared client session (on app startup)."""
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def close(self) -> None:
        """Cancel pending receipts and close the session (on app cleanup)."""
        self.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.session is not None:
            await self.session.close()
            self.session = None

    def cancel(self) -> None:
        """Cancel every pending receipt task."""
        for task in list(self.tasks):
            task.cancel()

    def schedule(self, provider: Provider, msg: Message) -> None:
        """Start the receipt sequence for one accepted message."""
        task = asyncio.get_running_loop().create_task(self._deliver(provider, msg))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, provider: Provider, msg: Message) -> None:
        state = provider.state
        cfg = dict(state.receipts)
        rng = state.rng
        final = "delivered"
        if cfg["fail_rate"] and rng.random() < cfg["fail_rate"]:
            final = rng.choice(("failed", "undelivered"))
        order = [final, "sent"] if cfg["reorder"] else ["sent", final]
        url = provider.receipt_url(msg)
        await asyncio.sleep(cfg["delay_ms"] / 1000)
        for status in order:
            provider.set_status(msg, status)
            if url is None:
                continue
            body = json.dumps(provider.receipt_payload(msg, status)).encode()
            copies = 2 if cfg["duplicate_rate"] and rng.random() < cfg["duplicate_rate"] else 1
            for _ in range(copies):
                await self._post(provider, url, body)
        provider.set_status(msg, final)

    async def _post(self, provider: Provider, url: str, body: bytes) -> None:
        counters = provider.state.counters
        session = self.session
        if session is None:
            counters["receipt_errors"] += 1
            return
        try:
            async with session.post(url, data=body, headers=_HEADERS) as resp:
                await resp.read()
                ok = resp.status < 300
        except Exception:  # any failure to deliver a receipt is counted, never raised
            ok = False
        counters["receipts_sent" if ok else "receipt_errors"] += 1
