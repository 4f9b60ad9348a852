"""End to end on real parts: producer -> Redis -> a real Celery worker -> the sandbox over HTTP."""

from __future__ import annotations

import csv
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from producer.api import Producer
from sms.message import Lane, Message, Status
from tests.conftest import Sandbox
from tests.helpers import SENDERS, run_cli, wait_for

pytestmark = pytest.mark.usefixtures("worker")


@pytest.mark.parametrize("account", sorted(SENDERS))
def test_one_message_is_sent_and_recorded(
    account: str, producer: Producer, sandbox: Sandbox
) -> None:
    body = f"Hello {uuid.uuid4().hex[:8]}"  # other tests' sends may still reach the ledger
    mid = producer.send(
        Message(account=account, to="+12025550123", sender=SENDERS[account], body=body)
    )
    (record,) = wait_for(producer, [mid])
    assert record.status is Status.SENT, record.reason
    assert record.provider_id
    (entry,) = [e for e in sandbox.ledger() if e["body"] == body]
    assert entry["provider"] == account
    assert entry["id"] == record.provider_id
    assert [h.status for h in record.history] == ["queued", "sending", "sent"]


@pytest.mark.parametrize("account", sorted(SENDERS))
def test_a_rejection_fails_with_the_providers_reason(
    account: str, producer: Producer, sandbox: Sandbox
) -> None:
    body = f"Hi {uuid.uuid4().hex[:8]}"
    mid = producer.send(
        Message(account=account, to="+15005550002", sender=SENDERS[account], body=body)
    )
    (record,) = wait_for(producer, [mid])
    assert record.status is Status.FAILED
    assert record.reason
    mine = [e for e in sandbox.ledger() if e.get("body") == body]
    assert all(e.get("status") == "failed" for e in mine)


def test_transactional_lane_is_served_while_bulk_waits(
    producer: Producer, sandbox: Sandbox
) -> None:
    bulk = [
        Message(account="carrierx", to=f"+1202555{i:04d}", sender=SENDERS["carrierx"], body="bulk")
        for i in range(3000)
    ]
    producer.send_many(bulk)
    reminder = producer.send(
        Message(
            account="carrierx",
            to="+13125550100",
            sender=SENDERS["carrierx"],
            body="reminder",
            lane=Lane.TRANSACTIONAL,
        )
    )
    (record,) = wait_for(producer, [reminder])
    assert record.status is Status.SENT
    wait_for(producer, [m.id for m in bulk], timeout=120)
    order = [e["body"] for e in sandbox.ledger()]
    # The reminder overtakes most of a blast enqueued before it.
    assert order.index("reminder") < len(order) // 2


def test_salvo_blast_sends_every_valid_row_exactly_once(
    tmp_path: Path, config_file: Path, producer: Producer, sandbox: Sandbox
) -> None:
    path = tmp_path / "people.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "first_name"])
        for i in range(300):
            w.writerow([f"+1312555{i:04d}", f"P{i}"])
        w.writerow(["not a number", "Bad"])  # line 302
        # line 303: the same recipient again with another name: its key names the message of
        # line 3, with different content: a conflict, rejected, so the number is sent once.
        w.writerow(["+13125550001", "Twice"])
        w.writerow(["+13125559999"])  # line 304: a field short
        w.writerow(["+1312555", "Short"])  # line 305
    campaign = f"t{uuid.uuid4().hex[:8]}"
    args = [
        "blast",
        str(path),
        "--provider",
        "textingline",
        "--from",
        SENDERS["textingline"],
        "--template",
        "Hi {first_name}",
        "--campaign",
        campaign,
    ]
    done = run_cli(config_file, *args)
    assert done.returncode == 0, done.stderr
    assert "300 enqueued, 0 already enqueued, 4 rejected" in done.stdout
    rejects = {r[0]: r[1] for r in list(csv.reader((tmp_path / "people.rejects.csv").open()))[1:]}
    assert sorted(rejects) == ["302", "303", "304", "305"]  # a conflict is known once enqueued
    assert "phone" in rejects["302"]
    assert rejects["303"].startswith("conflict: idempotency key")
    assert "expected 2 fields, found 1" in rejects["304"]

    deadline = time.monotonic() + 60
    while producer.campaign(campaign).counts.get("sent", 0) < 300:
        assert time.monotonic() < deadline, producer.campaign(campaign)
        time.sleep(0.2)
    ledger = Counter(e["to"] for e in sandbox.ledger())
    assert len(ledger) == 300
    assert set(ledger.values()) == {1}

    # Running the same blast again sends nothing new.
    again = run_cli(config_file, *args)
    assert "0 enqueued, 300 already enqueued, 4 rejected" in again.stdout
    time.sleep(1.0)
    assert len(sandbox.ledger()) == 300
    status = run_cli(config_file, "status", campaign)
    assert "sent 300" in status.stdout


def test_salvo_send_and_status(config_file: Path, sandbox: Sandbox) -> None:
    done = run_cli(
        config_file,
        "send",
        "--provider",
        "skycore",
        "--from",
        "12345",
        "--to",
        "+1 (202) 555-0199",
        "--body",
        "Single",
        "--key",
        uuid.uuid4().hex,
    )
    assert done.returncode == 0, done.stderr
    mid = done.stdout.strip()
    deadline = time.monotonic() + 30
    while "sent" not in (out := run_cli(config_file, "status", mid, "--json").stdout):
        assert time.monotonic() < deadline, out
        time.sleep(0.2)
    assert sandbox.ledger()[0]["to"] in {"12025550199", "+12025550199"}


def test_a_task_published_on_one_lane_lands_on_that_lane_only(unit_url: str) -> None:
    import redis

    from worker.app import make_app, publish

    app = make_app(unit_url)
    client = redis.Redis.from_url(unit_url)
    before = {lane: client.llen(lane) for lane in ("transactional", "bulk")}
    publish(app, "textingline", "transactional", ["an-id"], 100)
    assert client.llen("transactional") == before["transactional"] + 1
    assert client.llen("bulk") == before["bulk"]
    client.delete("transactional", "bulk")
    client.close()
    app.close()
