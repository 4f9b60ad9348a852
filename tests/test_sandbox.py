"""Tests of the provider sandbox over real HTTP on 127.0.0.1; each test runs its own server."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import sandbox
from sandbox.formats import segments

ROOT = Path(__file__).resolve().parent.parent

PATHS = {
    "justcall": "/justcall/v2/texts/send",
    "carrierx": "/carrierx/core/v2/sms/messages",
    "textingline": "/textingline/api/v1/messaging/message",
    "skycore": "/skycore/api",
}
AUTH = {
    "justcall": {"Authorization": "sandbox-key:sandbox-secret"},
    "carrierx": {"Authorization": "Bearer sandbox-token"},
    "textingline": {
        "Authorization": "Basic " + base64.b64encode(b"sandbox-id:sandbox-secret").decode()
    },
    "skycore": {"x-api-key": "sandbox-key"},
}
BAD_AUTH = {
    "justcall": {
        "Authorization": "Basic " + base64.b64encode(b"sandbox-key:sandbox-secret").decode()
    },
    "carrierx": {"Authorization": "Bearer wrong"},
    "textingline": {"Authorization": "Basic " + base64.b64encode(b"sandbox-id:nope").decode()},
    "skycore": {"x-api-key": "SANDBOX-KEY"},
}
PROVIDERS = tuple(PATHS)
MAGIC = {
    "opted_out": "+15005550001",
    "invalid_destination": "+15005550002",
    "destination_blocked": "+15005550003",
}


def message(provider: str, to: str = "+14155559876", **extra: Any) -> dict[str, Any]:
    """A valid send body for `provider` to `to` (digits form for CarrierX)."""
    body: dict[str, Any]
    if provider == "justcall":
        body = {"from": "+14155551234", "to": to, "body": "hello"}
    elif provider == "carrierx":
        body = {"from": "15162065575", "to": to.lstrip("+"), "message": "hello"}
    elif provider == "textingline":
        body = {"from": "+18005559876", "to": to, "body": "hello"}
    else:
        body = {"action": "sendsms", "from": "00000", "to": to, "message-text": "hello"}
    body.update(extra)
    return body


class Client:
    """A running sandbox plus a client session talking to it."""

    def __init__(self, url: str, session: aiohttp.ClientSession, running: sandbox.Running):
        self.url = url
        self.session = session
        self.running = running

    async def send(
        self,
        provider: str,
        payload: Any,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, Any, Any]:
        hdrs = AUTH[provider] if headers is None else headers
        kwargs: dict[str, Any] = {"headers": hdrs}
        if isinstance(payload, bytes | str):
            kwargs["data"] = payload
        else:
            kwargs["json"] = payload
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        async with self.session.post(self.url + PATHS[provider], **kwargs) as resp:
            return resp.status, await resp.json(content_type=None), resp.headers

    async def get(self, path: str, **params: Any) -> Any:
        async with self.session.get(self.url + path, params=params) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def configure(self, provider: str, patch: dict[str, Any]) -> Any:
        async with self.session.put(f"{self.url}/_sandbox/config/{provider}", json=patch) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def ledger(self, provider: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"since": since}
        if provider:
            params["provider"] = provider
        return list((await self.get("/_sandbox/ledger", **params))["entries"])

    async def stats(self) -> dict[str, Any]:
        return dict(await self.get("/_sandbox/stats"))


@asynccontextmanager
async def running(config: dict[str, Any] | None = None) -> AsyncIterator[Client]:
    server = await sandbox.start("127.0.0.1", 0, config)
    try:
        async with aiohttp.ClientSession() as session:
            yield Client(server.url, session, server)
    finally:
        await server.close()


def async_test(
    fn: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., None]:
    """Run an async test body with asyncio.run (pytest-asyncio is not installed)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 20))

    return wrapper


# ----- success shapes -------------------------------------------------------------------------


@async_test
async def test_justcall_success_shape_and_headers() -> None:
    async with running() as sb:
        status, body, headers = await sb.send("justcall", message("justcall"))
        assert status == 200
        assert body["status"] == "success" and body["message"] == "Message sent"
        data = body["data"]
        assert data["message_id"].startswith("msg_")
        assert data == {
            "message_id": data["message_id"],
            "from": "+14155551234",
            "to": "+14155559876",
            "direction": "outbound",
            "status": "queued",
        }
        for name in (
            "Limit",
            "Remaining",
            "Reset",
            "Burst-Limit",
            "Burst-Remaining",
            "Burst-Reset",
        ):
            assert f"X-Rate-Limit-{name}" in headers
        (entry,) = await sb.ledger()
        assert entry["provider"] == "justcall" and entry["account"] == "sandbox-key"
        assert entry["id"] == data["message_id"] and entry["request"] == message("justcall")
        assert entry["media"] == [] and entry["body"] == "hello"


@async_test
async def test_carrierx_success_shape() -> None:
    async with running() as sb:
        payload = message(
            "carrierx", user_data="our-42", media_urls=["https://x.example/a.png"], message="é"
        )
        status, body, _ = await sb.send("carrierx", payload)
        assert status == 200
        assert body["status"] == "queued" and body["type"] == "mms"
        assert body["user_data"] == "our-42" and body["message_segments"] == 1
        assert body["media_urls"] == ["https://x.example/a.png"]
        assert body["group_recipients"] == [] and body["direction"] == "outbound"
        assert len(body["message_sid"]) == 36 and body["date_status_changed"] is None
        for key in ("date_changed", "date_created", "mcc", "mnc", "partner_sid", "price"):
            assert key in body
        status, body, _ = await sb.send("carrierx", message("carrierx", message="a" * 161))
        assert body["message_segments"] == 2 and body["type"] == "sms"
        legacy = {"from_did": "15162065575", "to_did": "15162065574", "message": "old names"}
        status, body, _ = await sb.send("carrierx", legacy)
        assert status == 200 and body["from"] == "15162065575" and body["to"] == "15162065574"
        entries = await sb.ledger("carrierx")
        assert [e["media"] for e in entries] == [["https://x.example/a.png"], [], []]


@async_test
async def test_textingline_success_shape_and_mms_without_body() -> None:
    async with running() as sb:
        status, body, headers = await sb.send("textingline", message("textingline"))
        assert status == 201
        assert body["id"].startswith("msg_") and body["status"] == "sent"
        assert body["direction"] == "outbound" and body["body"] == "hello"
        assert body["sentAt"].endswith("Z") and body["createdAt"].endswith("Z")
        assert "errorType" not in body
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} <= set(headers)
        mms = {"to": "+18005551234", "from": "+18005559876", "mediaUrl": "https://x.example/a.jpg"}
        status, body, _ = await sb.send("textingline", mms)
        assert status == 201 and body["status"] == "sent"


@async_test
async def test_skycore_success_shape() -> None:
    async with running() as sb:
        payload = message("skycore", to="+10000000001", action="SendSMS")
        status, body, _ = await sb.send("skycore", payload)
        assert status == 200
        assert body["status"] == "Success" and body["tracking-id"]
        assert body["to"] == "+10000000001" and body["from"] == "00000"
        assert body["status-details"] == "SMS request accepted and queued for delivery"
        status, body, _ = await sb.send("skycore", message("skycore", to="10000000001"))
        assert body["status"] == "Success" and body["to"] == "10000000001"
        assert [e["to"] for e in await sb.ledger("skycore")] == ["+10000000001", "10000000001"]


# ----- auth, validation, limits -----------------------------------------------------------------


def _check_auth(provider: str, status: int, body: Any) -> None:
    if provider == "justcall":
        assert status == 401 and body["status"] == "error"
    elif provider == "carrierx":
        assert status == 401 and body["errors"]
    elif provider == "textingline":
        assert status == 401 and body["code"] == 33001 and body["status"] == 401
        assert "moreInfo" in body
    else:
        assert status == 200 and body["status"] == "Failure" and body["error-code"] == "E102"


@pytest.mark.parametrize("provider", PROVIDERS)
@async_test
async def test_auth_failure(provider: str) -> None:
    async with running() as sb:
        for headers in (BAD_AUTH[provider], {}):
            status, body, _ = await sb.send(provider, message(provider), headers=headers)
            _check_auth(provider, status, body)
        stats = (await sb.stats())[provider]
        assert stats["auth_failed"] == 2 and stats["accepted"] == 0
        assert await sb.ledger() == []


Check = Callable[[int, Any], bool]

MISSING: dict[str, tuple[str, Check]] = {
    "justcall": ("body", lambda s, b: s == 400 and "body" in b["message"]),
    "carrierx": ("to", lambda s, b: s == 422 and b["errors"][0]["field"] == "to"),
    "textingline": ("from", lambda s, b: s == 400 and b["code"] == 33005),
    "skycore": ("message-text", lambda s, b: s == 200 and b["error-code"] == "E712"),
}


@pytest.mark.parametrize("provider", PROVIDERS)
@async_test
async def test_missing_required_field(provider: str) -> None:
    field, check = MISSING[provider]
    async with running() as sb:
        payload = message(provider)
        del payload[field]
        status, body, _ = await sb.send(provider, payload)
        assert check(status, body), (status, body)
        assert (await sb.stats())[provider]["rejected"] == 1
        assert await sb.ledger() == []


@async_test
async def test_limits_and_formats() -> None:
    async with running() as sb:
        cases: list[tuple[str, dict[str, Any], Callable[[int, Any], bool]]] = [
            ("justcall", message("justcall", body="a" * 1601), lambda s, b: s == 422),
            ("justcall", message("justcall", body="ж" * 1121), lambda s, b: s == 422),
            ("justcall", message("justcall", to="14155559876"), lambda s, b: s == 400),
            (
                "carrierx",
                message("carrierx", media_urls=[f"https://x.example/{i}" for i in range(11)]),
                lambda s, b: s == 422 and b["errors"][0]["field"] == "media_urls",
            ),
            (
                "carrierx",
                message("carrierx", group_recipients=["15162065570"] * 11),
                lambda s, b: s == 422,
            ),
            ("carrierx", message("carrierx", message="a" * 1601), lambda s, b: s == 422),
            ("carrierx", {**message("carrierx"), "to": "+15162065574"}, lambda s, b: s == 422),
            (
                "textingline",
                message("textingline", body="a" * 641),
                lambda s, b: s == 400 and b["code"] == 33005,
            ),
            (
                "textingline",
                message("textingline", idempotencyKey="bad key!"),
                lambda s, b: s == 400 and b["details"][0]["field"] == "idempotencyKey",
            ),
            (
                "textingline",
                message("textingline", to="18005551234"),
                lambda s, b: s == 400 and b["code"] == 33003,
            ),
            (
                "skycore",
                message("skycore", action="sendmms"),
                lambda s, b: s == 200 and b["error-code"] == "E101",
            ),
            (
                "skycore",
                message("skycore", to="12ab"),
                lambda s, b: s == 200 and b["error-code"] == "E110",
            ),
        ]
        for provider, payload, check in cases:
            status, body, _ = await sb.send(provider, payload)
            assert check(status, body), (provider, status, body)
        ok = [
            ("justcall", message("justcall", body="a" * 1600)),
            ("justcall", message("justcall", body="ж" * 1120)),
            ("carrierx", message("carrierx", message="a" * 1600)),
            ("textingline", message("textingline", body="a" * 640, idempotencyKey="k@-_)(9")),
        ]
        for provider, payload in ok:
            status, body, _ = await sb.send(provider, payload)
            assert status in (200, 201), (provider, body)
        assert len(await sb.ledger()) == len(ok)
        status, body, _ = await sb.send("carrierx", b"{not json", AUTH["carrierx"])
        assert status == 415  # aiohttp sends bytes as application/octet-stream
        headers = {**AUTH["carrierx"], "Content-Type": "application/json"}
        status, body, _ = await sb.send("carrierx", b"{not json", headers)
        assert status == 400 and body["message"] == "Bad Request"


def _textingline_failed(kind: str) -> Check:
    def check(status: int, body: Any) -> bool:
        return (
            status == 201
            and body["status"] == "failed"
            and body["errorType"] == kind
            and bool(body["errorMessage"])
            and "sentAt" not in body
        )

    return check


MAGIC_EXPECT: dict[str, dict[str, Check]] = {
    "justcall": {
        kind: (lambda s, b: s == 422 and b["status"] == "error" and b["message"]) for kind in MAGIC
    },
    "carrierx": {
        kind: (lambda s, b: s == 422 and b["errors"][0]["field"] == "to") for kind in MAGIC
    },
    "textingline": {kind: _textingline_failed(kind) for kind in MAGIC},
    "skycore": {
        "opted_out": lambda s, b: s == 200 and b["error-code"] == "E715",
        "invalid_destination": lambda s, b: s == 200 and b["error-code"] == "E110",
        "destination_blocked": lambda s, b: s == 200 and b["error-code"] == "E628",
    },
}


@pytest.mark.parametrize("provider", PROVIDERS)
@async_test
async def test_magic_numbers(provider: str) -> None:
    async with running() as sb:
        for kind, number in MAGIC.items():
            for to in (number, number.lstrip("+")):
                if provider in ("justcall", "textingline") and not to.startswith("+"):
                    continue
                status, body, _ = await sb.send(provider, message(provider, to=to))
                assert MAGIC_EXPECT[provider][kind](status, body), (kind, status, body)
        assert await sb.ledger() == []
        stats = (await sb.stats())[provider]
        assert stats["accepted"] == 0 and stats["rejected"] == stats["requests"]


@async_test
async def test_textingline_idempotent_replay() -> None:
    async with running() as sb:
        payload = message("textingline", idempotencyKey="order-17")
        first = await sb.send("textingline", payload)
        second = await sb.send("textingline", payload)
        assert first[0] == second[0] == 201 and first[1] == second[1]
        assert len(await sb.ledger()) == 1
        stats = (await sb.stats())["textingline"]
        assert stats["idempotent_replays"] == 1 and stats["accepted"] == 1
        # Keys are per API key; a failed (magic) answer is replayed too.
        failed = message("textingline", to=MAGIC["opted_out"], idempotencyKey="order-18")
        a = await sb.send("textingline", failed)
        b = await sb.send("textingline", failed)
        assert a[1] == b[1] and a[1]["status"] == "failed"
        other = await sb.send("textingline", message("textingline", idempotencyKey="order-19"))
        assert other[1]["id"] != first[1]["id"]
        creds = [{"key_id": "sandbox-id", "key_secret": "sandbox-secret"}]
        creds.append({"key_id": "id2", "key_secret": "s2"})
        await sb.configure("textingline", {"credentials": creds})
        second_key = {"Authorization": "Basic " + base64.b64encode(b"id2:s2").decode()}
        third = await sb.send("textingline", payload, headers=second_key)
        assert third[0] == 201 and third[1]["id"] != first[1]["id"]
        assert len(await sb.ledger()) == 3


# ----- rate limits and quotas -----------------------------------------------------------------


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
        _check_auth(provider, status, body)


# ----- faults ---------------------------------------------------------------------------------


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


# ----- control API ----------------------------------------------------------------------------


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


# ----- receipts -------------------------------------------------------------------------------


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


# ----- process entry point and helpers ----------------------------------------------------------


def test_python_m_sandbox_port_0(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"skycore": {"credentials": [{"api_key": "from-file"}]}}))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--config", str(cfg)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert not url.endswith(":0")

        async def probe() -> Any:
            async with aiohttp.ClientSession() as session:
                payload = message("skycore")
                headers = {"x-api-key": "from-file"}
                async with session.post(url + "/skycore/api", json=payload, headers=headers) as r:
                    return await r.json()

        assert asyncio.run(probe())["status"] == "Success"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        if proc.stdout is not None:
            proc.stdout.close()


def test_segments() -> None:
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("a" * 306) == 2
    assert segments("{" * 80) == 1 and segments("{" * 81) == 2
    assert segments("ж" * 70) == 1 and segments("ж" * 71) == 2 and segments("😀" * 35) == 1
    assert segments("😀" * 36) == 2
