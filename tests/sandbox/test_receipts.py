"""Delivery receipts posted back in each provider's shape, with failures, duplicates and
reordering; CarrierX's lookup."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from tests.helpers import async_test
from tests.sandbox.support import AUTH, PROVIDERS, message, running


@asynccontextmanager
async def receiver() -> AsyncIterator[tuple[str, list[Any]]]:
    received: list[Any] = []

    async def collect(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", collect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    finally:
        await runner.cleanup()


async def wait_for(items: list[Any], n: int, timeout: float = 3.0) -> None:
    deadline = time.time() + timeout
    while len(items) < n and time.time() < deadline:
        await asyncio.sleep(0.02)
    assert len(items) >= n, items


@async_test
async def test_receipts_in_each_providers_shape() -> None:
    receipts = {"enabled": True, "delay_ms": 20}
    async with receiver() as (url, got), running() as sb:
        for provider in PROVIDERS:
            await sb.configure(provider, {"receipts": receipts, "callback_url": url})
        _, jc, _ = await sb.send("justcall", message("justcall", webhook_url=url))
        await wait_for(got, 2)
        assert [r["status"] for r in got] == ["sent", "delivered"]
        assert got[1] == {
            "message_id": jc["data"]["message_id"],
            "status": "delivered",
            "to": "+14155559876",
            "from": "+14155551234",
            "timestamp": got[1]["timestamp"],
        }
        got.clear()
        _, cx, _ = await sb.send("carrierx", message("carrierx", user_data="mine-1"))
        await wait_for(got, 2)
        assert [r["status"] for r in got] == ["sent", "delivered"]
        assert got[1]["message_sid"] == cx["message_sid"] and got[1]["user_data"] == "mine-1"
        got.clear()
        _, tl, _ = await sb.send("textingline", message("textingline"))
        await wait_for(got, 2)
        assert [r["type"] for r in got] == [
            "messaging.outgoing.message.sent",
            "messaging.outgoing.message.delivered",
        ]
        assert got[1]["data"]["id"] == tl["id"] and got[1]["data"]["status"] == "delivered"
        got.clear()
        _, sk, _ = await sb.send("skycore", message("skycore", **{"campaign-ref": "c9"}))
        await wait_for(got, 2)
        assert [r["code"] for r in got] == ["N201", "N202"]
        assert got[1]["origin"] == "SMS_MT" and got[1]["tracking-id"] == sk["tracking-id"]
        assert got[1]["campaign-ref"] == "c9"
        for key in ("status", "from", "to", "from-mask", "timestamp", "operator-id"):
            assert key in got[1]
        stats = await sb.stats()
        assert all(stats[p]["receipts_sent"] == 2 for p in PROVIDERS)


@async_test
async def test_receipts_fail_duplicate_reorder_and_errors() -> None:
    async with receiver() as (url, got), running() as sb:
        receipts = {"enabled": True, "delay_ms": 10, "fail_rate": 1.0, "duplicate_rate": 1.0}
        await sb.configure(
            "skycore", {"receipts": {**receipts, "reorder": True}, "callback_url": url}
        )
        await sb.send("skycore", message("skycore"))
        await wait_for(got, 4)
        codes = [r["code"] for r in got]
        assert codes[0] == codes[1] and codes[0] in ("E201", "E202") and codes[2:] == ["N201"] * 2
        await sb.configure("justcall", {"receipts": {"enabled": True, "delay_ms": 0}})
        await sb.send("justcall", message("justcall", webhook_url="http://127.0.0.1:9/none"))
        deadline = time.time() + 3
        while (await sb.stats())["justcall"]["receipt_errors"] < 2 and time.time() < deadline:
            await asyncio.sleep(0.02)
        assert (await sb.stats())["justcall"]["receipt_errors"] == 2


@async_test
async def test_carrierx_lookup() -> None:
    async with running({"carrierx": {"receipts": {"enabled": True, "delay_ms": 10}}}) as sb:
        _, sent, _ = await sb.send("carrierx", message("carrierx", user_data="ours-7"))
        path = f"{sb.url}/carrierx/core/v2/sms/messages/{sent['message_sid']}"
        async with sb.session.get(path, headers=AUTH["carrierx"]) as resp:
            assert resp.status == 200
            found = await resp.json()
        assert found["message_sid"] == sent["message_sid"] and found["user_data"] == "ours-7"
        await asyncio.sleep(0.15)
        async with sb.session.get(path, headers=AUTH["carrierx"]) as resp:
            assert (await resp.json())["status"] == "delivered"
        async with sb.session.get(path, headers={"Authorization": "Bearer other"}) as resp:
            assert resp.status == 401
        async with sb.session.get(path + "x", headers=AUTH["carrierx"]) as resp:
            assert resp.status == 404 and (await resp.json())["errors"]
