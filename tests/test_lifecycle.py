"""One message's lifecycle with a real worker and the sandbox: a cancelled scheduled message is
never sent, a moved send_at is honoured, and a change that comes too late is refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from producer.api import Producer
from sms.errors import Conflict, InvalidMessage, NotFound
from sms.message import Message, Status
from tests.conftest import Sandbox
from tests.helpers import run_cli, sent_when_due, wait_for

pytestmark = pytest.mark.usefixtures("worker")


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def reminder(to: str, **times: datetime) -> Message:
    return Message(account="carrierx", to=to, sender="+14155550101", body="see you", **times)


def test_a_cancelled_scheduled_message_is_never_sent(producer: Producer, sandbox: Sandbox) -> None:
    mid = producer.send(reminder("+12025550181", send_at=later(1.5)))
    record = producer.status(mid)
    assert record.as_dict()["waiting_for"].startswith("its send_at")
    cancelled = producer.cancel_message(mid)
    assert (cancelled.status, cancelled.reason) == (Status.CANCELLED, "cancelled by request")
    time.sleep(3.0)
    assert producer.status(mid).status is Status.CANCELLED
    assert sandbox.ledger() == []
    with pytest.raises(Conflict, match="is already cancelled"):
        producer.cancel_message(mid)
    with pytest.raises(NotFound):
        producer.cancel_message("no-such-message")


def test_a_moved_send_at_is_honoured(producer: Producer, sandbox: Sandbox) -> None:
    mid = producer.send(reminder("+12025550182", send_at=later(600)))
    at = later(2.0)
    record = producer.reschedule(mid, {"send_at": at})
    assert record.message.send_at == at
    assert record.as_dict()["send_at"] is not None
    sent_when_due(producer, sandbox, mid, at)
    with pytest.raises(Conflict, match="is sent: too late to move"):
        producer.reschedule(mid, {"send_at": later(60)})


def test_a_message_moved_later_waits_and_an_expiry_moved_earlier_ends_it(
    producer: Producer, sandbox: Sandbox
) -> None:
    soon = producer.send(reminder("+12025550183", send_at=later(1.0)))
    producer.reschedule(soon, {"send_at": later(600), "expires_at": later(1200)})
    time.sleep(2.5)
    assert producer.status(soon).status is Status.QUEUED
    assert sandbox.ledger() == []
    producer.reschedule(soon, {"send_at": None, "expires_at": later(-1)})
    (record,) = wait_for(producer, [soon])
    assert record.status is Status.EXPIRED
    assert sandbox.ledger() == []


def test_times_that_do_not_go_together_are_refused(producer: Producer) -> None:
    mid = producer.send(reminder("+12025550184", send_at=later(600)))
    with pytest.raises(InvalidMessage, match="expires_at: must be after send_at"):
        producer.reschedule(mid, {"expires_at": later(300)})
    with pytest.raises(InvalidMessage, match="to: not a field a move can change"):
        producer.reschedule(mid, {"to": "+12025550185"})
    producer.cancel_message(mid)


def test_the_cli_cancels_a_message_by_its_id_and_says_so(
    producer: Producer, sandbox: Sandbox, config_file: Path
) -> None:
    mid = producer.send(reminder("+12025550186", send_at=later(600)))
    shown = run_cli(config_file, "status", mid)
    assert "send_at 20" in shown.stdout and "waiting for its send_at" in shown.stdout
    moved = run_cli(config_file, "move", mid, "--expires", "2099-01-01T00:00:00+00:00")
    assert moved.returncode == 0, moved.stderr
    assert "expires_at 2099-01-01T00:00:00.000+00:00" in moved.stdout
    done = run_cli(config_file, "cancel", mid)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"message {mid}: queued -> cancelled; it will not be sent"
    again = run_cli(config_file, "cancel", mid)
    assert again.returncode == 1
    assert f"message {mid} is already cancelled" in again.stderr
    assert sandbox.ledger() == []


def test_the_python_api_holds_new_messages_to_the_times_a_move_is_held_to(
    producer: Producer,
) -> None:
    # The same rules as `salvo send` and POST /v1/messages (producer.lifecycle.time_problems).
    backwards = reminder("+12025550177", send_at=later(7200), expires_at=later(3600))
    with pytest.raises(InvalidMessage, match="expires_at: must be after send_at"):
        producer.send(backwards)
    naive = reminder("+12025550178", send_at=datetime(2099, 1, 1))
    with pytest.raises(InvalidMessage, match=r"send_at: a time needs an offset \(\+00:00\)"):
        producer.send(naive)
