"""The send engine under load: reminders ahead of blasts, controls that act at once, holds as
narrow as their cause. A real worker (`salvo worker`, default pool) on its own database, the
sandbox answering every call after 150 ms as real providers do.

The assertions are about order and counts, never about elapsed time: a reminder is sent while a
slow account's blast still waits for its tokens; what a pause lets through is bounded by one
second of the account's rate plus the calls already in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from producer.api import Producer
from salvo.local import worker_process, write_config
from sms import keys
from sms.message import Lane, Message, Status
from sms.settings import Settings
from tests.conftest import Sandbox
from tests.helpers import SENDERS, wait_for

#: The accounts of this module: a slow one (JustCall plans allow 0.5-1.5 sends a second; 4/s
#: here, so that a test does not take minutes), a faster one, and idle ones for reminders.
SLOW_RATE = 4.0
FAST_RATE = 40.0
LATENCY_MS = 150


@pytest.fixture(scope="module")
def engine_config(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, providers: dict[str, Any]
) -> Path:
    db = redis_url.rsplit("/", 1)[0] + "/6"  # no other worker looks at this database
    accounts = {
        "slow": {**providers["carrierx"], "rate": SLOW_RATE, "burst": 1},
        "fast": {**providers["skycore"], "rate": FAST_RATE, "burst": int(FAST_RATE)},
        "idle": {**providers["textingline"]},
        "senders": {**providers["justcall"]},
    }
    path = tmp_path_factory.mktemp("engine") / "salvo.toml"
    return write_config(path, db, accounts, republish_after=30.0)


@pytest.fixture(scope="module")
def engine_worker(engine_config: Path) -> Iterator[None]:
    settings = Settings.load(engine_config)
    assert settings.redis_url is not None
    with worker_process(engine_config, settings.redis_url, ("-n", "engine@%h")):
        yield


@pytest.fixture
def engine(engine_config: Path, engine_worker: None, sandbox: Sandbox) -> Iterator[Producer]:
    for provider in ("justcall", "carrierx", "textingline", "skycore"):
        sandbox.configure(provider, latency_ms=LATENCY_MS)
    p = Producer(Settings.load(engine_config))
    yield p
    p.close()


KINDS = {"slow": "carrierx", "fast": "skycore", "idle": "textingline", "senders": "justcall"}


def make(account: str, i: int, lane: Lane = Lane.BULK, **fields: Any) -> Message:
    return Message.model_validate(
        {
            "account": account,
            "to": f"+1312555{i:04d}",
            "from": SENDERS[KINDS[account]],
            "body": f"{account} {lane.value} {i}",
            "lane": lane,
            **fields,
        }
    )


def sent_bodies(sandbox: Sandbox, prefix: str) -> list[str]:
    return [e["body"] for e in sandbox.ledger() if e["body"].startswith(prefix)]


def until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


def _campaign(engine: Producer, account: str, n: int, start: int) -> tuple[str, list[str]]:
    """A running campaign of `n` bulk messages on `account`; its id and the messages' ids."""
    campaign = f"e{time.time_ns()}"
    engine.redis.hset(keys.campaign(campaign), mapping={"state": "running", "account": account})
    ids = engine.send_many([make(account, start + i, campaign=campaign) for i in range(n)])
    return campaign, ids


def test_a_reminder_on_an_idle_account_goes_out_while_another_accounts_blast_waits(
    engine: Producer, sandbox: Sandbox
) -> None:
    campaign, _ = _campaign(engine, "slow", 200, 0)
    until(lambda: len(sent_bodies(sandbox, "slow")) >= 2, "the blast started")
    reminders = engine.send_many([make("idle", i, Lane.TRANSACTIONAL) for i in range(5)])
    records = wait_for(engine, reminders, timeout=60)
    assert {r.status for r in records} == {Status.SENT}
    # At 4/s the blast needs 50 s: the reminders did not wait behind it.
    assert len(sent_bodies(sandbox, "slow")) < 100
    # Each reminder's wait, from enqueue to acceptance, is counted for its lane.
    stats = engine.redis.hgetall(keys.stats("idle"))
    assert int(stats["wait_count:transactional"]) >= 5
    assert float(stats["wait_sum:transactional"]) > 0
    engine.cancel(campaign)


def test_a_transactional_message_overtakes_the_bulk_ones_queued_on_its_own_account(
    engine: Producer, sandbox: Sandbox
) -> None:
    campaign, _ = _campaign(engine, "slow", 100, 1000)
    until(lambda: len(sent_bodies(sandbox, "slow bulk 10")) >= 2, "the bulk sends started")
    reminder = engine.send(make("slow", 2000, Lane.TRANSACTIONAL))
    (record,) = wait_for(engine, [reminder], timeout=60)
    assert record.status is Status.SENT
    bulk_sent = len(sent_bodies(sandbox, "slow bulk 1"))
    assert bulk_sent < 40  # of 100 queued ahead of it: it took the next token
    engine.cancel(campaign)


def test_a_pause_stops_a_running_blast_within_one_second_of_its_rate(
    engine: Producer, sandbox: Sandbox
) -> None:
    campaign, ids = _campaign(engine, "fast", 600, 3000)
    until(lambda: len(sent_bodies(sandbox, "fast")) >= 60, "the blast is under way")
    engine.pause(campaign)
    at_pause = len(sent_bodies(sandbox, "fast"))
    time.sleep(3.0)  # anything the pause failed to stop would be sent by now
    after = len(sent_bodies(sandbox, "fast"))
    in_flight = FAST_RATE * LATENCY_MS / 1000 * 2  # what may be inside a call, with margin
    assert after - at_pause <= FAST_RATE * 1.0 + in_flight
    assert after < len(ids)
    engine.resume(campaign)
    records = wait_for(engine, ids, timeout=120)
    assert {r.status for r in records} == {Status.SENT}
    assert len(sent_bodies(sandbox, "fast")) == len(ids)  # each once


def test_a_cancel_stops_a_running_blast_and_ends_the_rest_cancelled(
    engine: Producer, sandbox: Sandbox
) -> None:
    campaign, ids = _campaign(engine, "fast", 600, 5000)
    until(lambda: len(sent_bodies(sandbox, "fast")) >= 60, "the blast is under way")
    engine.cancel(campaign)
    at_cancel = len(sent_bodies(sandbox, "fast"))
    records = wait_for(engine, ids, timeout=60)
    sent = sum(r.status is Status.SENT for r in records)
    cancelled = sum(r.status is Status.CANCELLED for r in records)
    assert sent + cancelled == len(ids)
    in_flight = FAST_RATE * LATENCY_MS / 1000 * 2
    assert sent - at_cancel <= FAST_RATE * 1.0 + in_flight
    assert len(sent_bodies(sandbox, "fast")) == sent


def test_a_bad_sender_holds_only_its_own_messages(engine: Producer, sandbox: Sandbox) -> None:
    good_sender = SENDERS["justcall"]
    sandbox.configure("justcall", senders=[good_sender.lstrip("+")])
    try:
        bad = engine.send(make("senders", 1, **{"from": "+14155550999"}))
        until(
            lambda: "sender held" in engine.status(bad).reason,
            "the bad sender's message held",
        )
        good = engine.send_many([make("senders", 10 + i) for i in range(3)])
        records = wait_for(engine, good, timeout=30)
        assert {r.status for r in records} == {Status.SENT}
        held = engine.status(bad)
        assert held.status is Status.QUEUED  # waits for its sender, not failed
        assert "from number not found" in held.reason
    finally:
        sandbox.configure("justcall", senders=None)
