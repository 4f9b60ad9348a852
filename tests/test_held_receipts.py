"""Receipts held for a send that is never recorded: indexed, then dropped by the dispatcher with a
warning and a count once their hold ends, never silently.

On database 1 of the session's server, where no worker or dispatcher runs: each test calls the
dispatcher's sweep itself, with a `now` of its choosing (the server's clock, as the dispatcher).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aredis

from sms import keys
from sms.message import Status
from sms.metrics import RECEIPTS_DROPPED
from sms.providers.base import Receipt
from sms.receipts import HOLD, KEEP_HELD, ReceiptStore, held_member
from sms.settings import Settings
from sms.store import MOVED_WITH_HELD_RECEIPTS
from tests.helpers import overtaken_send
from worker.app import make_app
from worker.dispatcher import Dispatcher


@pytest.fixture
def dispatcher(unit_url: str) -> Iterator[Dispatcher]:
    """A dispatcher on database 1, not started: the tests run its sweep themselves."""
    d = Dispatcher(make_app(unit_url), Settings(), unit_url, "tests-held")
    yield d
    d.client.close()


def hold(url: str, account: str, provider_id: str, *statuses: Status) -> list[str]:
    """Post receipts for a provider id, as the API does; their outcomes."""

    async def run() -> list[str]:
        client = aredis.Redis.from_url(url, decode_responses=True)
        try:
            receipts = ReceiptStore(client, retention=60)
            return [
                (await receipts.apply(account, Receipt(s, provider_id=provider_id))).outcome
                for s in statuses
            ]
        finally:
            await client.aclose()

    return asyncio.run(run())


def server_now(r: redis.Redis) -> float:
    seconds, micros = r.time()
    return float(seconds + micros / 1e6)


def dropped(r: redis.Redis, account: str) -> int:
    return int(r.hget(keys.stats(account), RECEIPTS_DROPPED) or 0)


def warnings_about(caplog: pytest.LogCaptureFixture, provider_id: str) -> list[str]:
    return [
        rec.getMessage()
        for rec in caplog.records
        if rec.levelno == logging.WARNING and provider_id in rec.getMessage()
    ]


def test_receipts_still_held_when_their_hold_ends_are_dropped_logged_and_counted(
    unit_url: str, r: redis.Redis, dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    account, pid = "tl:east", f"tl-{uuid.uuid4().hex}"  # an account name with ':' in it
    held = keys.held_receipts(account, pid)
    start = server_now(r)
    assert hold(unit_url, account, pid, Status.SENT, Status.DELIVERED) == ["held", "held"]
    ends = r.zscore(keys.HELD, held_member(account, pid))
    assert ends is not None and start + HOLD - 1 <= ends <= server_now(r) + HOLD
    assert r.llen(held) == 2
    assert KEEP_HELD - 10 <= r.ttl(held) <= KEEP_HELD  # a backstop well past the hold
    before = dropped(r, account)

    with caplog.at_level(logging.WARNING, logger="salvo.dispatcher"):
        assert dispatcher.sweep_held(ends) >= 2  # the moment its hold ends
        assert not r.exists(held)
        assert r.zscore(keys.HELD, held_member(account, pid)) is None
        assert dropped(r, account) == before + 2
        (line,) = warnings_about(caplog, pid)
        assert f"2 held receipt(s) for account {account}, provider id {pid}" in line
        assert "(sent, delivered)" in line
        assert "no message with that provider id was recorded within the hold" in line

        caplog.clear()
        dispatcher.sweep_held(ends + 60)  # another dispatcher, later: nothing left to take
        assert warnings_about(caplog, pid) == []
        assert dropped(r, account) == before + 2


def test_a_sweep_before_the_hold_ends_touches_nothing(
    unit_url: str, r: redis.Redis, dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    account, pid = "skycore", f"sc-{uuid.uuid4().hex}"
    held = keys.held_receipts(account, pid)
    assert hold(unit_url, account, pid, Status.DELIVERED) == ["held"]
    ends = r.zscore(keys.HELD, held_member(account, pid))
    assert ends is not None
    before = dropped(r, account)

    with caplog.at_level(logging.WARNING, logger="salvo.dispatcher"):
        dispatcher.sweep_held(server_now(r))
        dispatcher.sweep_held(ends - 1)
    assert warnings_about(caplog, pid) == []
    assert r.llen(held) == 1
    assert r.zscore(keys.HELD, held_member(account, pid)) == ends
    assert dropped(r, account) == before

    r.delete(held)  # leave nothing for other tests' sweeps
    r.zrem(keys.HELD, held_member(account, pid))


def test_a_receipt_held_again_after_its_hold_ended_starts_the_hold_over(
    unit_url: str, r: redis.Redis, dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    account, pid = "skycore", f"sc-{uuid.uuid4().hex}"
    member = held_member(account, pid)
    assert hold(unit_url, account, pid, Status.SENT) == ["held"]
    long_ago = server_now(r) - 2 * HOLD
    r.zadd(keys.HELD, {member: long_ago})  # its hold ended, and no dispatcher has looked yet
    assert hold(unit_url, account, pid, Status.DELIVERED) == ["held"]  # ... when another came

    with caplog.at_level(logging.WARNING, logger="salvo.dispatcher"):
        dispatcher.sweep_held(long_ago + 1)
    assert warnings_about(caplog, pid) == []
    assert r.llen(keys.held_receipts(account, pid)) == 2
    ends = r.zscore(keys.HELD, member)
    assert ends is not None and ends > server_now(r)

    dispatcher.sweep_held(ends)  # leave nothing for other tests' sweeps
    assert r.zscore(keys.HELD, member) is None


def test_held_receipts_whose_list_expired_are_still_reported(
    unit_url: str, r: redis.Redis, dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    # No dispatcher ran for KEEP_HELD seconds: the list is gone, its index entry is not.
    account, pid = "carrierx", f"cx-{uuid.uuid4().hex}"
    assert hold(unit_url, account, pid, Status.DELIVERED) == ["held"]
    r.delete(keys.held_receipts(account, pid))
    ends = r.zscore(keys.HELD, held_member(account, pid))
    assert ends is not None
    before = dropped(r, account)

    with caplog.at_level(logging.WARNING, logger="salvo.dispatcher"):
        dispatcher.sweep_held(ends + KEEP_HELD)
    (line,) = warnings_about(caplog, pid)
    assert "expired before any dispatcher took them" in line
    assert r.zscore(keys.HELD, held_member(account, pid)) is None
    assert dropped(r, account) == before  # how many is not known


def sent_with_held_receipts(url: str, pid: str, *, apply: bool) -> str:
    """A textingline send whose one receipt overtook its record; its id. With `apply`, the
    worker then applies it, as worker/batch.py does."""
    sent = overtaken_send(url, pid, [Status.DELIVERED], apply=apply)
    assert sent.early == ["held"]
    assert sent.moved == MOVED_WITH_HELD_RECEIPTS
    assert sent.applied == (["moved"] if apply else [])
    return sent.message_id


def test_held_receipts_applied_by_the_worker_leave_nothing_to_sweep(
    unit_url: str, r: redis.Redis, dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    pid = f"tl-{uuid.uuid4().hex}"
    before = dropped(r, "textingline")
    mid = sent_with_held_receipts(unit_url, pid, apply=True)
    assert r.hget(keys.message(mid), "status") == "delivered"
    assert r.zscore(keys.HELD, held_member("textingline", pid)) is None
    assert not r.exists(keys.held_receipts("textingline", pid))

    with caplog.at_level(logging.WARNING, logger="salvo.dispatcher"):
        dispatcher.sweep_held(server_now(r) + HOLD + 1)
    assert warnings_about(caplog, pid) == []
    assert dropped(r, "textingline") == before


def test_held_receipts_a_stopped_worker_never_applied_are_reported_as_such(
    unit_url: str, r: redis.Redis, dispatcher: Dispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    # move.lua answered 2, and the worker stopped before it applied what was held.
    pid = f"tl-{uuid.uuid4().hex}"
    before = dropped(r, "textingline")
    mid = sent_with_held_receipts(unit_url, pid, apply=False)
    ends = r.zscore(keys.HELD, held_member("textingline", pid))
    assert ends is not None

    with caplog.at_level(logging.WARNING, logger="salvo.dispatcher"):
        dispatcher.sweep_held(ends)
    (line,) = warnings_about(caplog, pid)
    assert f"its send was recorded (message {mid}) but they were never applied" in line
    assert dropped(r, "textingline") == before + 1
    assert r.hget(keys.message(mid), "status") == "sent"
