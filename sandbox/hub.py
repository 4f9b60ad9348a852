"""The object shared by every handler: providers, the ledger, receipts, and hanging requests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.config import PROVIDERS
from sandbox.inbound import reply_for, schedule_reply
from sandbox.receipts import Receipts
from sandbox.state import Ledger, Message

if TYPE_CHECKING:
    from sandbox.provider import Provider

_LINGER_RESET = struct.pack("ii", 1, 0)


class Hub:
    """Shared sandbox state reachable from every request handler."""

    def __init__(self) -> None:
        self.providers: dict[str, Provider] = {}
        self.ledger = Ledger(PROVIDERS)
        self.receipts = Receipts()
        self.sleepers: set[asyncio.Task[Any]] = set()

    def record(self, provider: Provider, msg: Message) -> None:
        """Put an accepted message in the ledger and schedule its receipts."""
        self.ledger.add(msg)
        provider.state.messages[msg.id] = msg
        if provider.state.receipts["enabled"]:
            self.receipts.schedule(provider, msg)
        if reply_for(msg.to) is not None:
            schedule_reply(self.receipts, provider, msg.sender, msg.to)

    async def hang(self, seconds: float) -> None:
        """Sleep, cancellably on shutdown, so the client times out."""
        task = asyncio.current_task()
        if task is not None:
            self.sleepers.add(task)
        try:
            await asyncio.sleep(seconds)
        finally:
            if task is not None:
                self.sleepers.discard(task)

    @staticmethod
    def drop(request: web.Request) -> web.Response:
        """Abort the connection with a TCP reset; the returned response is never sent."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            transport.abort()
        return web.Response(status=500)

    def reset(self) -> None:
        """Clear ledger, arrivals, counters, idempotency and limit state; keep the config."""
        self.ledger.clear()
        for provider in self.providers.values():
            provider.state.clear()

    def shutdown(self) -> None:
        """Cancel hanging handlers and pending receipts so the server stops promptly."""
        for task in list(self.sleepers):
            task.cancel()
        self.receipts.cancel()
