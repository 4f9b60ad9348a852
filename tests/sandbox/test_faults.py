"""Faults: 5xx, resets and timeouts before or after acceptance, seeded and reproducible;
latency."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from tests.helpers import async_test
from tests.sandbox.support import PROVIDERS, message, running


def _check_5xx(provider: str, status: int, body: Any) -> None:
    if provider == "justcall":
        assert status in (500, 503) and body["status"] == "error"
    elif provider == "carrierx":
        assert status in (500, 503) and "errors" in body
    elif provider == "textingline":
        assert status == 500 and body["code"] == 33007
    else:
        assert status == 200 and body["status"] == "Failure" and body["error-code"] == "E503"


@pytest.mark.parametrize("provider", PROVIDERS)
@async_test
async def test_fault_5xx(provider: str) -> None:
    async with running({provider: {"fault_5xx": 1.0, "seed": 7}}) as sb:
        status, body, _ = await sb.send(provider, message(provider))
        _check_5xx(provider, status, body)
        assert await sb.ledger() == []
        assert (await sb.stats())[provider]["faults"]["5xx"] == 1


@pytest.mark.parametrize("provider", ["justcall", "skycore"])
@async_test
async def test_reset_before_and_after(provider: str) -> None:
    async with running({provider: {"reset_before": 1.0}}) as sb:
        with pytest.raises(aiohttp.ClientError):
            await sb.send(provider, message(provider))
        assert await sb.ledger() == []
        await sb.configure(provider, {"reset_before": 0.0, "reset_after": 1.0})
        with pytest.raises(aiohttp.ClientError):
            await sb.send(provider, message(provider))
        assert len(await sb.ledger()) == 1
        stats = (await sb.stats())[provider]
        assert stats["faults"]["reset_before"] == 1 and stats["faults"]["reset_after"] == 1
        arrivals = (await sb.get("/_sandbox/arrivals", provider=provider))["arrivals"]
        assert [(a[1], a[2]) for a in arrivals] == [(0, "reset_before"), (0, "reset_after")]


@async_test
async def test_timeout_before_and_after() -> None:
    config = {"carrierx": {"timeout_after": 1.0, "hang_seconds": 5}}
    async with running(config) as sb:
        with pytest.raises(asyncio.TimeoutError):
            await sb.send("carrierx", message("carrierx"), timeout=0.3)
        assert len(await sb.ledger("carrierx")) == 1
        await sb.configure("carrierx", {"timeout_after": 0.0, "timeout_before": 1.0})
        with pytest.raises(asyncio.TimeoutError):
            await sb.send("carrierx", message("carrierx"), timeout=0.3)
        assert len(await sb.ledger("carrierx")) == 1
        faults = (await sb.stats())["carrierx"]["faults"]
        assert faults["timeout_after"] == 1 and faults["timeout_before"] == 1
    # leaving the block stopped the server promptly despite the hanging handlers


@async_test
async def test_textingline_retry_after_reset_is_replayed() -> None:
    async with running({"textingline": {"reset_after": 1.0}}) as sb:
        payload = message("textingline", idempotencyKey="retry-1")
        with pytest.raises(aiohttp.ClientError):
            await sb.send("textingline", payload)
        await sb.configure("textingline", {"reset_after": 0.0})
        status, body, _ = await sb.send("textingline", payload)
        (entry,) = await sb.ledger()
        assert status == 201 and body["id"] == entry["id"]


@async_test
async def test_seeded_faults_are_reproducible() -> None:
    config = {"skycore": {"fault_5xx": 0.5, "seed": 3}}
    runs = []
    for _ in range(2):
        async with running(config) as sb:
            codes = []
            for _ in range(12):
                _, body, _ = await sb.send("skycore", message("skycore"))
                codes.append(body["status"])
            runs.append(codes)
    assert runs[0] == runs[1] and len(set(runs[0])) == 2


@async_test
async def test_latency() -> None:
    async with running({"justcall": {"latency_ms": 150}}) as sb:
        start = time.perf_counter()
        status, _, _ = await sb.send("justcall", message("justcall"))
        assert status == 200 and time.perf_counter() - start >= 0.14
