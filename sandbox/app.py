"""Application factory and runners for the sandbox (one port, four providers, control API)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from sandbox.carrierx import CarrierX
from sandbox.config import build
from sandbox.control import Control
from sandbox.hub import Hub
from sandbox.justcall import JustCall
from sandbox.provider import Provider
from sandbox.skycore import Skycore
from sandbox.textingline import TextingLine

HUB = web.AppKey("sandbox_hub", Hub)
PROVIDER_CLASSES: tuple[type[Provider], ...] = (JustCall, CarrierX, TextingLine, Skycore)


def create_app(config: dict[str, Any] | None = None) -> web.Application:
    """Build the sandbox application; `config` is keyed by provider (raises ConfigError)."""
    full = build(config)
    hub = Hub()
    app = web.Application()
    app[HUB] = hub
    for cls in PROVIDER_CLASSES:
        provider = cls(hub, full[cls.name])
        hub.providers[cls.name] = provider
        provider.add_routes(app)
    Control(hub).add_routes(app)

    async def receipts_session(_: web.Application) -> AsyncIterator[None]:
        await hub.receipts.start()
        yield
        await hub.receipts.close()

    async def on_shutdown(_: web.Application) -> None:
        hub.shutdown()

    app.cleanup_ctx.append(receipts_session)
    app.on_shutdown.append(on_shutdown)
    return app


class Running:
    """A started sandbox server: its runner, bound port and base URL."""

    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        self.runner = runner
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    @property
    def app(self) -> web.Application:
        """The served application."""
        return self.runner.app

    async def close(self) -> None:
        """Stop serving and run the app's cleanup."""
        await self.runner.cleanup()


async def start(
    host: str = "127.0.0.1", port: int = 0, config: dict[str, Any] | None = None
) -> Running:
    """Start the sandbox in the running event loop (port 0 picks a free port)."""
    runner = web.AppRunner(create_app(config), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return Running(runner, host, int(bound))


async def serve(host: str, port: int, config: dict[str, Any] | None = None) -> None:
    """Serve until SIGINT/SIGTERM, announcing the bound address on stdout."""
    running = await start(host, port, config)
    print(f"sandbox listening on {running.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await running.close()


def run(host: str = "127.0.0.1", port: int = 8025, config: dict[str, Any] | None = None) -> None:
    """Run the sandbox, blocking until interrupted (on uvloop where it is installed: it
    roughly halves the cost of each request, so a rehearsal measures Salvo, not the sandbox)."""
    # Collect less often, and never scan what lives as long as the process (each request
    # allocates a few hundred short-lived objects; at Python's default the collector runs
    # several times per hundred requests).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=_loop_factory()) as runner,
    ):
        runner.run(serve(host, port, config))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
