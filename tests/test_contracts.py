"""Each adapter against the sandbox over real HTTP: every outcome class the sandbox can produce.

The sandbox is written from the same provider documents but not from our code, so a
misunderstanding in an adapter shows up here as a wrong class. Each case starts a fresh sandbox
on 127.0.0.1 (an ephemeral port), shapes it through the control API, sends, and stops it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import sandbox
from sms.message import Message
from sms.providers import adapter_for
from sms.providers.base import Adapter, Outcome, OutcomeKind
from sms.settings import CarrierXAccount, JustCallAccount, SkycoreAccount, TextingLineAccount
from tests.helpers import async_test

K = OutcomeKind
PROVIDERS = ("justcall", "carrierx", "textingline", "skycore")
TIMEOUT = 0.5  # the adapter's timeout; the sandbox hangs far longer


@asynccontextmanager
async def running_sandbox() -> AsyncIterator[str]:
    """The sandbox app on 127.0.0.1, port 0; yields its root URL and stops it afterwards."""
    runner = web.AppRunner(sandbox.create_app({}), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def account(provider: str, root: str, *, bad_credentials: bool = False) -> Any:
    """A Salvo account for `provider` pointed at the sandbox, with its default credentials."""
    bad = "wrong-" if bad_credentials else ""
    common: dict[str, Any] = {"timeout": TIMEOUT}
    if provider == "justcall":
        return JustCallAccount(
            kind="justcall",
            base_url=f"{root}/justcall",
            api_key=bad + "sandbox-key",
            api_secret="sandbox-secret",
            **common,
        )
    if provider == "carrierx":
        return CarrierXAccount(
            kind="carrierx", base_url=f"{root}/carrierx", token=bad + "sandbox-token", **common
        )
    if provider == "textingline":
        return TextingLineAccount(
            kind="textingline",
            base_url=f"{root}/textingline",
            key_id=bad + "sandbox-id",
            key_secret="sandbox-secret",
            **common,
        )
    return SkycoreAccount(
        kind="skycore", endpoint_url=f"{root}/skycore/api", api_key=bad + "sandbox-key", **common
    )


def message(to: str = "+14155559876", **fields: Any) -> Message:
    data: dict[str, Any] = {"account": "sandbox", "to": to, "from": "+14155551234"}
    data["body"] = "Your appointment is confirmed for tomorrow at 2 PM."
    data.update(fields)
    return Message.model_validate(data)


@dataclass(frozen=True)
class Case:
    """One way to make the sandbox answer: its config, what we send, and how many times."""

    name: str
    config: dict[str, Any] = field(default_factory=dict)
    to: str = "+14155559876"
    bad_credentials: bool = False
    sends: int = 1  # the last answer is the one that counts


CASES = {
    "accepted": Case("accepted"),
    "opted-out": Case("opted-out", to="+15005550001"),
    "invalid-destination": Case("invalid-destination", to="+15005550002"),
    "blocked": Case("blocked", to="+15005550003"),
    "bad-credentials": Case("bad-credentials", bad_credentials=True),
    "sender-not-owned": Case("sender-not-owned", config={"senders": ["+14155550000"]}),
    "rate-limited": Case(
        "rate-limited", config={"rate_limit": {"limit": 1, "window": 60}}, sends=2
    ),
    "quota": Case("quota", config={"quota": {"limit": 1, "window": 86400}}, sends=2),
    "fault-5xx": Case("fault-5xx", config={"fault_5xx": 1.0}),
    "reset-before": Case("reset-before", config={"reset_before": 1.0}),
    "reset-after": Case("reset-after", config={"reset_after": 1.0}),
    "timeout-before": Case("timeout-before", config={"timeout_before": 1.0}),
    "timeout-after": Case("timeout-after", config={"timeout_after": 1.0}),
}

# What each provider's adapter must make of each case. A reset or hang after the request was
# written is `unknown` for every provider: the client cannot tell before from after.
EXPECTED: dict[str, dict[str, OutcomeKind]] = {
    "justcall": {"fault-5xx": K.UNKNOWN},  # no idempotency: a 5xx may have been sent
    "carrierx": {
        "fault-5xx": K.UNKNOWN,
        # CarrierX documents no quota; the sandbox's (inferred) quota is a plain 429 whose
        # text says "quota exceeded". By the documents that is a rate limit.
        "quota": K.RATE_LIMITED,
    },
    "textingline": {"fault-5xx": K.RETRYABLE},  # 33007, and the idempotencyKey makes it safe
    "skycore": {"fault-5xx": K.RETRYABLE},  # E503 internal error
}
COMMON = {
    "accepted": K.ACCEPTED,
    "opted-out": K.REJECTED,
    "invalid-destination": K.REJECTED,
    "blocked": K.REJECTED,
    "bad-credentials": K.CONFIG_ERROR,
    "sender-not-owned": K.CONFIG_ERROR,
    "rate-limited": K.RATE_LIMITED,
    "quota": K.QUOTA_EXHAUSTED,
    "reset-before": K.UNKNOWN,
    "reset-after": K.UNKNOWN,
    "timeout-before": K.UNKNOWN,
    "timeout-after": K.UNKNOWN,
}
WALK = [
    (provider, name, EXPECTED[provider].get(name, COMMON.get(name)))
    for provider in PROVIDERS
    for name in CASES
]


async def configure(session: aiohttp.ClientSession, root: str, provider: str, cfg: Any) -> None:
    async with session.put(f"{root}/_sandbox/config/{provider}", json=cfg) as resp:
        assert resp.status == 200, await resp.text()


async def ledger(session: aiohttp.ClientSession, root: str, provider: str) -> list[Any]:
    async with session.get(f"{root}/_sandbox/ledger", params={"provider": provider}) as resp:
        assert resp.status == 200
        entries: list[Any] = (await resp.json())["entries"]
        return entries


async def walk(provider: str, case: Case) -> tuple[Outcome, list[Any]]:
    async with running_sandbox() as root, aiohttp.ClientSession() as session:
        # Hanging handlers sleep hang_seconds; our adapter gives up after TIMEOUT anyway.
        await configure(session, root, provider, {"hang_seconds": 2, **case.config})
        adapter: Adapter[Any] = adapter_for(
            account(provider, root, bad_credentials=case.bad_credentials)
        )
        msg = message(case.to)
        assert adapter.validate(msg) == []
        outcome = None
        for _ in range(case.sends):
            outcome = await adapter.send(session, msg)
        assert outcome is not None
        return outcome, await ledger(session, root, provider)


@pytest.mark.parametrize(("provider", "case", "kind"), WALK, ids=[f"{p}-{c}" for p, c, _ in WALK])
@async_test
async def test_every_outcome_class_against_the_sandbox(
    provider: str, case: str, kind: OutcomeKind
) -> None:
    outcome, entries = await walk(provider, CASES[case])
    assert outcome.kind is kind, outcome
    assert outcome.reason or kind is K.ACCEPTED
    if kind is K.ACCEPTED:
        assert outcome.provider_id
        assert [e["id"] for e in entries] == [outcome.provider_id]
    if kind is K.REJECTED:
        assert entries == []


@async_test
async def test_rate_limits_carry_the_wait_and_the_signal() -> None:
    async def go() -> dict[str, Outcome]:
        results = {}
        for provider in ("justcall", "textingline"):
            results[provider], _ = await walk(provider, CASES["rate-limited"])
        return results

    for provider, outcome in (await go()).items():
        assert outcome.kind is K.RATE_LIMITED
        assert outcome.retry_after is not None and 0 < outcome.retry_after <= 61, provider
        assert outcome.signal is not None and outcome.signal.remaining == 0, provider


@async_test
async def test_quotas_wait_for_the_long_window() -> None:
    async def go() -> dict[str, Outcome]:
        results = {}
        for provider in ("justcall", "textingline"):
            results[provider], _ = await walk(provider, CASES["quota"])
        return results

    for provider, outcome in (await go()).items():
        assert outcome.kind is K.QUOTA_EXHAUSTED
        assert outcome.retry_after is not None and outcome.retry_after > 3600, provider


@async_test
async def test_carrierx_stores_our_id_in_user_data() -> None:
    async def go() -> tuple[Message, list[Any]]:
        async with running_sandbox() as root, aiohttp.ClientSession() as session:
            adapter = adapter_for(account("carrierx", root))
            msg = message()
            assert (await adapter.send(session, msg)).kind is K.ACCEPTED
            return msg, await ledger(session, root, "carrierx")

    msg, entries = await go()
    assert entries[0]["request"]["user_data"] == msg.id


@async_test
async def test_group_mms_goes_through_carrierx() -> None:
    async def go() -> Outcome:
        async with running_sandbox() as root, aiohttp.ClientSession() as session:
            adapter = adapter_for(account("carrierx", root))
            msg = message(
                media_urls=["https://example.com/a.png"],
                options={"group_recipients": ["+14155550123"]},
            )
            assert adapter.validate(msg) == []
            return await adapter.send(session, msg)

    assert (await go()).kind is K.ACCEPTED


@pytest.mark.parametrize("provider", ["justcall", "textingline"])
@async_test
async def test_mms_with_one_media_url_is_accepted(provider: str) -> None:
    async def go() -> Outcome:
        async with running_sandbox() as root, aiohttp.ClientSession() as session:
            adapter = adapter_for(account(provider, root))
            msg = message(media_urls=["https://example.com/promo.jpg"])
            return await adapter.send(session, msg)

    assert (await go()).kind is K.ACCEPTED


@async_test
async def test_skycore_accepts_a_short_code_sender() -> None:
    async def go() -> Outcome:
        async with running_sandbox() as root, aiohttp.ClientSession() as session:
            adapter = adapter_for(account("skycore", root))
            return await adapter.send(session, message(**{"from": "12345"}))

    assert (await go()).kind is K.ACCEPTED


@async_test
async def test_textingline_resend_after_unknown_sends_once() -> None:
    """A reset after acceptance is unknown; the resend with the same idempotencyKey is safe."""

    async def go() -> tuple[Outcome, Outcome, list[Any]]:
        async with running_sandbox() as root, aiohttp.ClientSession() as session:
            adapter = adapter_for(account("textingline", root))
            assert adapter.idempotent_resend
            msg = message()
            await configure(session, root, "textingline", {"reset_after": 1.0})
            first = await adapter.send(session, msg)
            await configure(session, root, "textingline", {"reset_after": 0.0})
            second = await adapter.send(session, msg)
            return first, second, await ledger(session, root, "textingline")

    first, second, entries = await go()
    assert first.kind is K.UNKNOWN
    assert second.kind is K.ACCEPTED
    assert [e["id"] for e in entries] == [second.provider_id]
