"""An idempotency key means one request: the same message again answers the first message's id
as a repeat; a different message under the same key is a conflict naming the first one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import redis
from pydantic import ValidationError

from producer.api import Producer, smartened, validation_problems
from sms import keys
from sms.errors import IdempotencyConflict, InvalidMessage
from sms.message import Message, Stamp
from sms.store import Admission, Enqueued, Store
from tests.helpers import run_cli

RETENTION = 3600


def message(**kw: object) -> Message:
    fields: dict[str, object] = {
        "account": "textingline",
        "to": "+14155551234",
        "sender": "+14155550102",
        "body": "Your appointment is at 9",
        "idempotency_key": uuid.uuid4().hex,
    }
    fields.update(kw)
    return Message.model_validate(fields)


def test_the_same_message_again_is_a_repeat_of_the_first(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    first = message()
    again = message(idempotency_key=first.idempotency_key)  # a new id, the same request
    assert store.enqueue_many([first], [None]) == [Enqueued(first.id, Admission.NEW)]
    assert store.enqueue_many([again], [None]) == [Enqueued(first.id, Admission.REPEAT)]
    assert not r.exists(keys.message(again.id))


def test_a_different_message_under_the_same_key_is_a_conflict(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    first = message()
    moved = message(idempotency_key=first.idempotency_key, body="Your appointment is at 10")
    other = message(idempotency_key=first.idempotency_key, to="+14155551235")
    store.enqueue_many([first], [None])
    assert store.enqueue_many([moved, other], [None, None]) == [
        Enqueued(first.id, Admission.CONFLICT),
        Enqueued(first.id, Admission.CONFLICT),
    ]
    assert not r.exists(keys.message(moved.id))
    assert store.get(first.id).message.body == "Your appointment is at 9"


def test_a_key_written_before_fingerprints_answers_a_repeat(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    old = message()
    r.set(keys.idempotency(old.idempotency_key or ""), "an-older-id")
    assert store.enqueue_many([old], [None]) == [Enqueued("an-older-id", Admission.REPEAT)]


def test_the_fingerprint_is_what_the_message_asks_for() -> None:
    when = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    m = message(send_at=when)
    same_instant = when.astimezone(timezone(timedelta(hours=2)))
    assert message(send_at=same_instant).fingerprint() == m.fingerprint()
    assert message(send_at=when, idempotency_key="another").fingerprint() == m.fingerprint()
    assert message(send_at=when + timedelta(hours=1)).fingerprint() != m.fingerprint()
    assert message(send_at=when, media_urls=["https://x.test/a.png"]).fingerprint() != (
        m.fingerprint()
    )


def test_the_python_api_raises_a_conflict_naming_the_existing_message(
    producer: Producer,
) -> None:
    first = message()
    mid = producer.send(first)
    assert producer.send(message(idempotency_key=first.idempotency_key)) == mid
    with pytest.raises(IdempotencyConflict) as caught:
        producer.send(message(idempotency_key=first.idempotency_key, body="moved to 10"))
    assert caught.value.conflicts[0].existing == mid
    assert mid in str(caught.value) and "different content" in str(caught.value)
    assert [r.admission for r in producer.submit_many([first])] == [Admission.REPEAT]


def test_the_cli_says_repeat_and_fails_on_a_conflict(config_file: Path) -> None:
    key = uuid.uuid4().hex
    args = ["--account", "textingline", "--from", "+14155550102", "--to", "+12025550123"]
    first = run_cli(config_file, "send", *args, "--body", "at 9", "--key", key)
    assert first.returncode == 0, first.stderr
    mid = first.stdout.strip()
    again = run_cli(config_file, "send", *args, "--body", "at 9", "--key", key)
    assert (again.returncode, again.stdout.strip()) == (0, mid)
    assert f"repeat: key {key!r} already sent message {mid}" in again.stderr
    moved = run_cli(config_file, "send", *args, "--body", "at 10", "--key", key)
    assert moved.returncode == 1
    assert f"already names message {mid} with different content" in " ".join(moved.stderr.split())
    assert "Traceback" not in moved.stderr


@pytest.mark.parametrize(
    "extra",
    [{}, {"send_at": datetime(2030, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=2)))}],
)
def test_a_stamps_messages_have_the_fingerprint_and_the_checks_of_a_message(
    extra: dict[str, object],
) -> None:
    """A blast makes its rows' messages from one validated prototype (sms.message.Stamp):
    each has what a Message made from scratch has, fingerprint and refusals alike."""
    stamp = Stamp(message(campaign="c1", **extra))
    for to, body in [
        ("+14155551235", 'Hi "Bob" \\ é \u2019 \n\t'),
        ("+447400123456", ""),
        ("+14155551236", "\u2028 ok 😀"),
    ]:
        made = stamp.message(to, body, f"c1:{to}")
        fresh = message(to=to, body=body, campaign="c1", idempotency_key=f"c1:{to}", **extra)
        assert made.model_dump(exclude={"id"}) == fresh.model_dump(exclude={"id"})
        assert stamp.fingerprint(made) == made.fingerprint() == fresh.fingerprint()
        smart = smartened(made)
        assert stamp.fingerprint(smart) == smart.fingerprint()
        # The record's JSON, made from the prototype's: the same text, read back the same.
        assert stamp.data(made) == made.record_json()
        assert stamp.data(smart) == smart.record_json()
        assert Message.from_record(stamp.data(made)) == made
    ids = {stamp.message("+14155551235", "x", f"c1:{n}").id for n in range(2000)}
    assert len(ids) == 2000 and all(len(i) == 32 for i in ids)
    for body, key in [("a\x00b", "c1:k"), ("ok", "c1:\x07"), ("ok", "k" * 201), ("\x01", "")]:
        with pytest.raises(ValidationError) as full:
            message(body=body, idempotency_key=key)
        with pytest.raises(InvalidMessage) as stamped:
            stamp.message("+14155551235", body, key)
        assert stamped.value.problems == validation_problems(full.value)
