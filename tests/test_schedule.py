"""Whatever must wait sits in Redis's schedule, not in a worker, and is sent once or never."""

from __future__ import annotations

import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from producer.api import Producer
from salvo.local import worker_process
from sms import keys
from sms.message import Message, Status
from tests.conftest import Sandbox
from tests.helpers import sent_when_due, wait_for

pytestmark = pytest.mark.usefixtures("worker")


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_message_told_to_wait_two_hours_survives_a_worker_restart_and_is_sent_once(
    producer: Producer, sandbox: Sandbox, config_file: Path, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    # TextingLine's daily quota allows one message; the provider says to come back in two hours.
    sandbox.configure("textingline", quota={"limit": 1, "window": 7200})
    first, second = (
        Message(
            account="textingline", to=f"+120255501{i}", sender="+14155550102", body=f"message {i}"
        )
        for i in (71, 72)
    )
    try:
        assert wait_for(producer, [producer.send(first)])[0].status is Status.SENT
        with worker_process(
            config_file, redis_url, ("--concurrency", "1", "-n", "restart@%h")
        ) as proc:
            mid = producer.send(second)
            deadline = time.monotonic() + 30
            # Enqueued, it is due now; told to come back later, it is due in two hours.
            while (client.zscore(keys.ready("textingline", "bulk"), mid) or 0) < time.time() + 60:
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert client.zscore(keys.ready("textingline", "bulk"), mid) == pytest.approx(
                time.time() + 7200, abs=30
            )
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        with worker_process(config_file, redis_url, ("--concurrency", "1", "-n", "restart@%h")):
            time.sleep(1.0)
            record = producer.status(mid)
            assert (record.status, record.attempts) == (Status.QUEUED, 0)
            assert "quota" in record.reason
            assert client.zscore(keys.ready("textingline", "bulk"), mid) is not None
            assert len(sandbox.ledger("textingline")) == 1
            # Two hours pass: the quota resets, and the message is due.
            sandbox.configure("textingline", quota=None)
            client.delete(keys.cooldown("textingline"))
            client.zadd(keys.ready("textingline", "bulk"), {mid: time.time()})
            (record,) = wait_for(producer, [mid])
    finally:
        client.delete(keys.cooldown("textingline"))
    assert record.status is Status.SENT
    assert [e["body"] for e in sandbox.ledger("textingline")] == ["message 71", "message 72"]
    # Publishing it again changes nothing: the claim refuses a message already sent.
    producer.app.send_task("salvo.send_batch", args=["textingline", "bulk", [mid]], queue="bulk")
    time.sleep(1.0)
    assert len(sandbox.ledger("textingline")) == 2
    client.close()


def test_a_scheduled_message_goes_out_when_due(producer: Producer, sandbox: Sandbox) -> None:
    at = later(2.0)
    mid = producer.send(
        Message(
            account="carrierx", to="+12025550172", sender="+14155550101", body="soon", send_at=at
        )
    )
    sent_when_due(producer, sandbox, mid, at)


def test_an_expired_message_is_never_sent(producer: Producer, sandbox: Sandbox) -> None:
    # Every door refuses an expiry before the send time; written past them, as a message held
    # back past its expiry (a paused campaign, a slow account) is found by the engine.
    late = Message(
        account="skycore",
        to="+12025550173",
        sender="12345",
        body="too late",
        send_at=later(1.0),
        expires_at=later(0.5),
    )
    (mid,) = [done.id for done in producer.enqueue_valid([late])]
    (record,) = wait_for(producer, [mid])
    assert record.status is Status.EXPIRED
    assert "expired" in record.reason
    assert sandbox.ledger() == []


def test_a_rate_limited_message_waits_without_spending_an_attempt(
    producer: Producer, sandbox: Sandbox
) -> None:
    sandbox.configure("textingline", rate_limit={"limit": 2, "window": 2})
    ids = producer.send_many(
        Message(account="textingline", to=f"+1202555{i:04d}", sender="+14155550102", body="wait")
        for i in range(200, 206)
    )
    records = wait_for(producer, ids, timeout=60)
    assert {r.status for r in records} == {Status.SENT}
    assert all(r.attempts == 1 for r in records)
    stats = sandbox.stats()["textingline"]
    assert stats["accepted"] == 6
    assert len(sandbox.ledger()) == 6
