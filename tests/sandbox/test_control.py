"""The control API under /_sandbox/: the ledger, its pages and reset, and the config."""

from __future__ import annotations

import pytest

import sandbox
from tests.helpers import async_test
from tests.sandbox.support import PROVIDERS, message, running


@async_test
async def test_ledger_pagination_and_reset() -> None:
    async with running() as sb:
        for i in range(12):
            provider = PROVIDERS[i % 4]
            await sb.send(provider, message(provider))
        page = await sb.get("/_sandbox/ledger", since=0, limit=5)
        assert [e["seq"] for e in page["entries"]] == [1, 2, 3, 4, 5] and page["next"] == 5
        page = await sb.get("/_sandbox/ledger", since=page["next"], limit=5)
        assert [e["seq"] for e in page["entries"]] == [6, 7, 8, 9, 10]
        page = await sb.get("/_sandbox/ledger", since=10)
        assert [e["seq"] for e in page["entries"]] == [11, 12] and page["next"] == 12
        page = await sb.get("/_sandbox/ledger", since=12)
        assert page == {"entries": [], "next": 12}
        page = await sb.get("/_sandbox/ledger", provider="carrierx", since=2)
        assert [e["seq"] for e in page["entries"]] == [6, 10]
        assert {e["provider"] for e in page["entries"]} == {"carrierx"}
        arrivals = (await sb.get("/_sandbox/arrivals"))["arrivals"]
        assert len(arrivals) == 12 and [a[0] for a in arrivals] == sorted(a[0] for a in arrivals)
        async with sb.session.get(sb.url + "/_sandbox/ledger", params={"since": "x"}) as resp:
            assert resp.status == 400
        await sb.configure("textingline", {"rate_limit": {"limit": 1, "window": 60}})
        keyed = message("textingline", idempotencyKey="same")
        first = await sb.send("textingline", keyed)
        assert (await sb.send("textingline", keyed))[0] == 429
        async with sb.session.post(sb.url + "/_sandbox/reset") as resp:
            assert resp.status == 200
        assert await sb.ledger() == []
        stats = await sb.stats()
        assert all(s["requests"] == 0 for s in stats.values())
        assert (await sb.get("/_sandbox/arrivals"))["arrivals"] == []
        again = await sb.send("textingline", keyed)  # limits and idempotency store cleared
        assert again[0] == 201 and again[1]["id"] != first[1]["id"]
        assert (await sb.get("/_sandbox/config"))["textingline"]["rate_limit"]["limit"] == 1


@async_test
async def test_config_api() -> None:
    async with running({"skycore": {"latency_ms": 1}}) as sb:
        config = await sb.get("/_sandbox/config")
        assert set(config) == set(PROVIDERS)
        assert config["skycore"]["latency_ms"] == 1
        assert config["justcall"]["credentials"] == [
            {"api_key": "sandbox-key", "api_secret": "sandbox-secret"}
        ]
        assert config["carrierx"]["receipts"]["enabled"] is False
        updated = await sb.configure("carrierx", {"receipts": {"enabled": True}})
        assert updated["receipts"]["enabled"] is True and updated["receipts"]["delay_ms"] == 200
        for bad in ({"nope": 1}, {"fault_5xx": 2}, {"rate_limit": {"limit": 1}}):
            async with sb.session.put(sb.url + "/_sandbox/config/carrierx", json=bad) as resp:
                assert resp.status == 400
        async with sb.session.put(sb.url + "/_sandbox/config", json={"skycore": {"seed": 1}}) as r:
            assert r.status == 200 and (await r.json())["skycore"]["seed"] == 1
        await sb.configure("skycore", {"enforce_campaign_check": True, "senders": ["00000"]})
        _, body, _ = await sb.send("skycore", message("skycore"))
        assert body["error-code"] == "E714"
        _, body, _ = await sb.send("skycore", message("skycore", **{"campaign-ref": "c1"}))
        assert body["status"] == "Success"
        _, body, _ = await sb.send("skycore", message("skycore", **{"from": "11111"}))
        assert body["error-code"] == "E111"
    with pytest.raises(sandbox.ConfigError):
        sandbox.create_app({"nobody": {}})
