"""Exactly once: no message sent twice, none lost, whatever fails."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from bench.chaos import run_chaos
from producer.api import Producer
from sms import keys
from sms.message import Message, Status
from sms.store import Store
from tests.conftest import Sandbox
from tests.helpers import SENDERS, async_test, run_cli, wait_for

pytestmark = pytest.mark.usefixtures("worker")


def message(account: str, n: int) -> Message:
    return Message(
        account=account, to=f"+1303555{n:04d}", sender=SENDERS[account], body=f"once {n}"
    )


def test_a_publish_lost_after_the_record_was_written_is_published_again(
    producer: Producer, sandbox: Sandbox
) -> None:
    m = message("carrierx", 1)
    # The producer died between writing the record and publishing its task.
    producer.store.enqueue_many([m], [None])
    (record,) = wait_for(producer, [m.id], timeout=60)
    assert record.status is Status.SENT
    assert [e["body"] for e in sandbox.ledger()] == ["once 1"]


@async_test
async def test_a_lease_that_expires_holds_the_message_as_unknown(
    producer: Producer, redis_url: str, sandbox: Sandbox
) -> None:

    import redis.asyncio as aredis

    from sms.store import AsyncStore

    m = message("justcall", 2)
    producer.store.enqueue_many([m], [1e12])  # far in the future: nobody else takes it

    async def claim() -> str:
        client = aredis.Redis.from_url(redis_url, decode_responses=True)
        answer = (
            await AsyncStore(client, retention=60).claim_many([m.id], m.account, "dead-worker", 0.5)
        )[0]
        await client.aclose()
        return answer.status

    assert (await claim()) == "claimed"  # a worker claimed it, then died
    (record,) = wait_for(producer, [m.id], timeout=30)
    assert record.status is Status.UNKNOWN
    assert record.reason == "worker died while sending"
    assert sandbox.ledger() == []


@pytest.mark.parametrize("account", ["justcall", "carrierx", "skycore"])
def test_a_timeout_after_acceptance_is_held_as_unknown(
    account: str, producer: Producer, sandbox: Sandbox
) -> None:
    sandbox.configure(account, timeout_after=1.0, hang_seconds=5)
    mid = producer.send(message(account, 10))
    (record,) = wait_for(producer, [mid], timeout=30)
    assert record.status is Status.UNKNOWN
    assert "no answer within" in record.reason
    time.sleep(1.0)
    assert len(sandbox.ledger()) == 1  # accepted once, and never sent again


def test_textingline_resends_with_the_same_key_and_gets_the_original(
    producer: Producer, sandbox: Sandbox
) -> None:
    sandbox.configure("textingline", timeout_after=1.0, hang_seconds=5)
    mid = producer.send(message("textingline", 11))
    deadline = time.monotonic() + 30
    while not sandbox.ledger():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sandbox.configure("textingline", timeout_after=0.0)
    (record,) = wait_for(producer, [mid], timeout=60)
    assert record.status is Status.SENT
    (entry,) = sandbox.ledger()
    assert record.provider_id == entry["id"]  # the replay answered with the original message
    assert entry["request"]["idempotencyKey"].endswith(mid)
    assert record.attempts == 2
    assert sandbox.stats()["textingline"]["idempotent_replays"] == 1


def test_reconcile_lists_and_resolves_each_kind(
    producer: Producer, sandbox: Sandbox, config_file: Path
) -> None:
    sandbox.configure("carrierx", timeout_after=1.0, hang_seconds=5)
    ids = producer.send_many(message("carrierx", 20 + i) for i in range(3))
    records = wait_for(producer, ids, timeout=30)
    assert {r.status for r in records} == {Status.UNKNOWN}
    sandbox.configure("carrierx", timeout_after=0.0)

    listed = run_cli(config_file, "reconcile", "--account", "carrierx")
    assert listed.returncode == 0, listed.stderr
    assert all(i in listed.stdout for i in ids)

    resend, sent, failed = ids
    out = run_cli(
        config_file, "reconcile", "--resend", resend, "--note", "checked with the provider"
    )
    assert "1 resolved (resend)" in out.stdout
    run_cli(config_file, "reconcile", "--mark-sent", sent)
    run_cli(config_file, "reconcile", "--mark-failed", failed)
    assert producer.status(sent).status is Status.SENT
    assert producer.status(failed).status is Status.FAILED
    assert "operator" in producer.status(failed).reason
    (resent,) = wait_for(producer, [resend], timeout=30)
    assert resent.status is Status.SENT
    assert run_cli(config_file, "reconcile", "--mark-sent", sent).stdout.startswith("0 resolved")
    assert resend not in run_cli(config_file, "reconcile").stdout


def test_an_enqueued_message_waits_in_its_accounts_ready_queue_by_due_time(
    r: redis.Redis,
) -> None:
    store = Store(r, retention=60)
    m = message("skycore", 30)
    store.enqueue_many([m], [None])
    assert r.zscore(keys.ready("skycore", "bulk"), m.id) == pytest.approx(time.time(), abs=5)
    scheduled = message("skycore", 31)
    store.enqueue_many([scheduled], [time.time() + 3600])
    due = r.zscore(keys.ready("skycore", "bulk"), scheduled.id)
    assert due == pytest.approx(time.time() + 3600, abs=5)


def test_chaos_two_thousand_messages_two_kills_a_restart_and_a_server_killed() -> None:
    # The default threads pool has no children: two kills of the whole worker instead.
    verdict = run_chaos(
        2000, child_kills=0, main_kills=2, redis_restarts=1, redis_kills=1, rate=40.0, timeout=240
    )
    assert any("SIGKILL) and started it" in event for event in verdict.events)
    assert not verdict.unmatched, verdict.unmatched[:5]
    assert not verdict.lost, verdict.lost[:5]
    assert verdict.duplicated == 0
    assert not verdict.mismatched, verdict.mismatched[:5]
    assert verdict.accepted + sum(verdict.unknown.values()) + sum(verdict.failed.values()) == 2000
    assert all(reason.split(": ", 1)[1] for reason in verdict.unknown)


def test_sigterm_lets_the_batch_in_hand_finish(
    producer: Producer, sandbox: Sandbox, config_file: Path, redis_url: str
) -> None:
    import os
    import signal

    from salvo.local import worker_process

    sandbox.configure("skycore", latency_ms=400)
    with worker_process(config_file, redis_url, ("--concurrency", "1", "-n", "term@%h")) as proc:
        ids = producer.send_many(message("skycore", 100 + i) for i in range(300))
        deadline = time.monotonic() + 30
        while not sandbox.ledger():  # a batch is in hand
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(60)
    records = wait_for(producer, ids, timeout=120)
    assert {r.status for r in records} == {Status.SENT}
    bodies = [e["body"] for e in sandbox.ledger()]
    assert len(bodies) == len(set(bodies)) == 300
