"""The send-time gate on a real server: opted-out recipients are suppressed (per lane, per
scope), quiet hours make a message wait until its window ends, and a provider's opted-out
answer puts the number on the list."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import redis
import redis.asyncio as aredis

from sms.gate import Checker, Gate
from sms.message import Lane, Message
from sms.optout import OptOutList
from sms.settings import Settings
from tests.helpers import async_test

SENDER = "+14155550101"


def settings(**top: Any) -> Settings:
    account = {"kind": "carrierx", "token": "t", "base_url": "http://127.0.0.1:9"}
    tx = {**account, "optout_applies_to": "bulk"}
    return Settings(providers={"cx": account, "cx_tx": tx}, **top)


def message(to: str, account: str = "cx", lane: Lane = Lane.BULK) -> Message:
    return Message(account=account, to=to, sender=SENDER, body="Hi", lane=lane)


def phone() -> str:
    return f"+1202555{uuid.uuid4().int % 10000:04d}"


def judge(unit_url: str, gate: Gate, messages: list[Message], now: float | None = None) -> Any:
    async def run() -> Any:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        try:
            return await gate.judge(client, messages, now)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_a_number_that_opted_out_after_enqueue_is_suppressed(r: redis.Redis, unit_url: str) -> None:
    out, ok = phone(), phone()
    OptOutList(r).add("cx", out)
    first, second = message(out), message(ok)
    verdict = judge(unit_url, Gate(settings()), [first, second])
    assert verdict.suppressed == {first.id}
    assert verdict.waits == {}


def test_transactional_messages_pass_where_the_account_says(r: redis.Redis, unit_url: str) -> None:
    out = phone()
    OptOutList(r).add("cx_tx", out)
    tx, bulk = message(out, "cx_tx", Lane.TRANSACTIONAL), message(out, "cx_tx")
    assert judge(unit_url, Gate(settings()), [tx, bulk]).suppressed == {bulk.id}


def test_a_global_opt_out_suppresses_every_account(r: redis.Redis, unit_url: str) -> None:
    out = phone()
    OptOutList(r, "global").add("cx", out)
    other = message(out, "cx_tx")
    assert judge(unit_url, Gate(settings(optout_scope="global")), [other]).suppressed == {other.id}
    assert judge(unit_url, Gate(settings()), [other]).suppressed == frozenset()


def test_quiet_hours_hold_one_country_and_not_another(unit_url: str) -> None:
    now = datetime.now(UTC)
    local = now.astimezone(ZoneInfo("America/New_York"))
    end = local + timedelta(hours=1)
    window = f"{(local - timedelta(hours=1)):%H:%M}-{end:%H:%M}"
    new_york, paris = message("+12125550177"), message("+33612345678")
    gate = Gate(settings(quiet_hours=window))
    verdict = judge(unit_url, gate, [new_york, paris], now.timestamp())
    assert set(verdict.waits) == {new_york.id}
    assert verdict.waits[new_york.id] == end.replace(second=0, microsecond=0).timestamp()
    tx = message("+12125550177", lane=Lane.TRANSACTIONAL)
    assert judge(unit_url, gate, [tx], now.timestamp()).waits == {}


@async_test
async def test_a_providers_opted_out_answer_puts_the_number_on_the_list(
    r: redis.Redis, unit_url: str
) -> None:
    number = phone()

    async def run() -> tuple[bool, bool]:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        try:
            gate = Gate(settings())
            return (
                await gate.record_opt_out(client, "cx", number, "opted_out: by carrier"),
                await gate.record_opt_out(client, "cx", number, "again"),
            )
        finally:
            await client.aclose()

    assert (await run()) == (True, False)
    entry = OptOutList(r).get("cx", number)
    assert entry is not None and (entry.source, entry.note) == ("provider", "opted_out: by carrier")


@async_test
async def test_checks_made_in_one_turn_are_judged_together(r: redis.Redis, unit_url: str) -> None:
    out = phone()
    OptOutList(r).add("cx", out)
    messages = [message(out)] + [message(phone()) for _ in range(5)]

    async def run() -> list[tuple[bool, float | None]]:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        try:
            checker = Checker(Gate(settings()), client)
            return list(await asyncio.gather(*(checker.check(m) for m in messages)))
        finally:
            await client.aclose()

    assert (await run()) == [(True, None)] + [(False, None)] * 5
