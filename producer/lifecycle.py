"""One message's lifecycle after it is enqueued: cancel it, or move its send_at or expires_at,
while it has not been sent.

Every door (the CLI, the HTTP API, the Python API) goes through `cancel_message` and
`reschedule`, so each gives the same answer: the record after the change, NotFound for an
unknown id, Conflict naming the status when it is too late. A cancel is one move.lua step from
`queued` (it leaves its ready queue and the `out` set, and the claim refuses it afterwards); a
move is sms/lua/reschedule.lua, only while the message still waits in its ready queue.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from sms import campaigns
from sms.errors import Conflict, InvalidMessage, Problem
from sms.message import Message, Status
from sms.store import Move, Record, Store

#: The reason a cancelled message's history gives.
CANCELLED = "cancelled by request"
#: The reason a moved message's history gives.
RESCHEDULED = "rescheduled"
#: The fields a move may change.
TIMES = ("send_at", "expires_at")


def too_late(record: Record, doing: str) -> Conflict:
    """The refusal of a change to a message that is no longer waiting to be sent."""
    if doing == "cancel" and record.status.value == "cancelled":
        return Conflict(f"message {record.id} is already cancelled")
    return Conflict(f"message {record.id} is {record.status.value}: too late to {doing} it")


def cancel_message(store: Store, message_id: str) -> Record:
    """End a queued message `cancelled` so it is never sent; its record after. NotFound;
    Conflict naming its status when it is already sending or ended."""
    record = store.get(message_id)
    if record.status is Status.QUEUED:
        message = record.message
        move = Move(
            message_id,
            message.account,
            message.campaign,
            Status.QUEUED,
            Status.CANCELLED,
            CANCELLED,
            lane=message.lane.value,
            idempotency_key=message.idempotency_key,
        )
        if store.move(move):
            return store.get(message_id)
        record = store.get(message_id)
    raise too_late(record, "cancel")


def reschedule(store: Store, message_id: str, changes: dict[str, Any]) -> Record:
    """Move a queued message's `send_at` and/or `expires_at` (datetimes, None to clear) as
    `changes` says; its record after. InvalidMessage when the times do not go together
    (expires before send_at, a naive time); NotFound; Conflict when too late."""
    unknown = sorted(set(changes) - set(TIMES))
    if unknown or not changes:
        problems = [Problem(name, "not a field a move can change") for name in unknown]
        raise InvalidMessage(problems or [Problem("body", "name send_at or expires_at")])
    record = store.get(message_id)
    if record.status is not Status.QUEUED:
        raise too_late(record, "move")
    message = moved(record.message, changes)
    send_at: datetime | None = message.send_at
    due = max(time.time(), send_at.timestamp() if send_at else 0.0)
    answer = store.reschedule(record, message, due, RESCHEDULED)
    if answer == "moved":
        if message.campaign:
            campaigns.bring_forward(store.redis, message.campaign, due)
        return store.get(message_id)
    if answer == "metered":
        raise Conflict(
            f"message {message_id} is queued but already handed to a worker "
            "(or set aside with its paused campaign): too late to move it"
        )
    raise too_late(store.get(message_id), "move")


def moved(message: Message, changes: dict[str, Any]) -> Message:
    """`message` with new times, validated as a new message would be (InvalidMessage)."""
    from producer.api import validation_problems

    data = message.model_dump(by_alias=True)
    data.update(changes)
    try:
        new = Message.model_validate(data)
    except ValidationError as exc:
        raise InvalidMessage(validation_problems(exc)) from None
    if problems := time_problems(new.send_at, new.expires_at):
        raise InvalidMessage(problems)
    return new


def time_problems(send_at: datetime | None, expires_at: datetime | None) -> list[Problem]:
    """What is wrong with a message's (or a blast's) `send_at` and `expires_at` taken
    together: a time without an offset, an `expires_at` not after `send_at`. A new message, a
    blast and a move are held to the same rules at every door."""
    times = {"send_at": send_at, "expires_at": expires_at}
    naive = [name for name, when in times.items() if when and when.tzinfo is None]
    if naive:
        return [Problem(name, "a time needs an offset (+00:00)") for name in naive]
    if send_at and expires_at and expires_at <= send_at:
        return [Problem("expires_at", "must be after send_at")]
    return []
