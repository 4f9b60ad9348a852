"""Rate limits and quotas: how each provider says slow down, and the windows it counts over."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import pytest

from tests.helpers import async_test
from tests.sandbox.support import PROVIDERS, check_auth, message, running


def _check_rate_limited(provider: str, status: int, body: Any, headers: Any) -> None:
    if provider == "justcall":
        assert status == 429
        assert headers["X-Rate-Limit-Burst-Remaining"] == "0"
        assert headers["X-Rate-Limit-Burst-Limit"] == "3"
        assert int(headers["X-Rate-Limit-Burst-Reset"]) >= int(time.time())
    elif provider == "carrierx":
        assert status == 429 and body["message"] == "Too Many Requests" and body["errors"]
        assert "Retry-After" not in headers
    elif provider == "textingline":
        assert status == 429 and body["code"] == 33002 and body["status"] == 429
        assert int(headers["Retry-After"]) >= 1
        assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Limit"] == "3"
    else:
        assert status == 200 and body["error-code"] == "E106"


def _max_in_window(stamps: list[float], window: float) -> int:
    stamps = sorted(stamps)
    best, j = 0, 0
    for i, t in enumerate(stamps):
        while stamps[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.parametrize("provider", PROVIDERS)
@async_test
async def test_rate_limit(provider: str) -> None:
    window = 0.4
    config = {provider: {"rate_limit": {"limit": 3, "window": window}}}
    async with running(config) as sb:
        results = [await sb.send(provider, message(provider)) for _ in range(5)]
        accepted = [r for r in results if r[0] in (200, 201) and r[1].get("status") != "Failure"]
        assert len(accepted) == 3
        for status, body, headers in results[3:]:
            _check_rate_limited(provider, status, body, headers)
        # Keep pushing for a while: no window ever holds more than `limit` accepted.
        deadline = time.time() + 1.0
        while time.time() < deadline:
            await sb.send(provider, message(provider))
            await asyncio.sleep(0.01)
        stamps = [e["received_at"] for e in await sb.ledger(provider)]
        assert _max_in_window(stamps, window) <= 3
        assert len(stamps) >= 6  # slots free again as the window slides
        stats = (await sb.stats())[provider]
        assert stats["rate_limited"] >= 2 and stats["accepted"] == len(stamps)
        arrivals = (await sb.get("/_sandbox/arrivals", provider=provider))["arrivals"]
        assert len(arrivals) == stats["requests"]
        assert {a[2] for a in arrivals} == {"accepted", "rate_limited"}


@async_test
async def test_carrierx_retry_after_switch() -> None:
    config = {"carrierx": {"rate_limit": {"limit": 1, "window": 5}, "carrierx_retry_after": True}}
    async with running(config) as sb:
        await sb.send("carrierx", message("carrierx"))
        status, _, headers = await sb.send("carrierx", message("carrierx"))
        assert status == 429 and 1 <= int(headers["Retry-After"]) <= 5


def _check_quota(provider: str, status: int, body: Any, headers: Any) -> None:
    if provider == "justcall":
        assert status == 429
        assert headers["X-Rate-Limit-Remaining"] == "0" and headers["X-Rate-Limit-Limit"] == "2"
        assert int(headers["X-Rate-Limit-Reset"]) > time.time()
    elif provider == "carrierx":
        assert status == 429 and body["errors"][0]["message"] == "quota exceeded"
    elif provider == "textingline":
        assert status == 429 and body["code"] == 33012 and int(headers["Retry-After"]) >= 1
    else:
        assert status == 200 and body["error-code"] == "E120"


@pytest.mark.parametrize("provider", PROVIDERS)
@async_test
async def test_quota(provider: str) -> None:
    config = {provider: {"quota": {"limit": 2, "window": 3600}}}
    async with running(config) as sb:
        results = [await sb.send(provider, message(provider)) for _ in range(3)]
        _check_quota(provider, *results[2])
        assert len(await sb.ledger()) == 2
        assert (await sb.stats())[provider]["quota_exceeded"] == 1
        # Quotas are per credential: a second credential still has its quota.
        creds = {
            "justcall": {"api_key": "k2", "api_secret": "s2"},
            "carrierx": {"token": "t2"},
            "textingline": {"key_id": "i2", "key_secret": "s2"},
            "skycore": {"api_key": "k2"},
        }[provider]
        await sb.configure(provider, {"credentials": [creds]})
        other = {
            "justcall": {"Authorization": "k2:s2"},
            "carrierx": {"Authorization": "Bearer t2"},
            "textingline": {"Authorization": "Basic " + base64.b64encode(b"i2:s2").decode()},
            "skycore": {"x-api-key": "k2"},
        }[provider]
        status, body, _ = await sb.send(provider, message(provider), headers=other)
        assert status in (200, 201) and body.get("status") != "Failure"
        status, body, _ = await sb.send(provider, message(provider))  # old credential removed
        check_auth(provider, status, body)
