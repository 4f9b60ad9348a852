"""Messages held as `unknown`: listed, and resolved by an operator's decision.

A send that may have reached the provider (a timeout after the request was written, a reset,
an unreadable 2xx, a worker that died holding the lease) is held, never resent blindly. A
receipt that carries our id resolves one by itself; the rest are resent (when the operator
knows the provider did not take it), or marked sent or failed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

from producer.api import Producer
from sms import keys
from sms.message import Message, Status
from sms.store import Move

Decision = Literal["resend", "sent", "failed"]


@dataclass(frozen=True)
class Held:
    """One unknown message, as an operator needs to see it."""

    id: str
    account: str
    campaign: str | None
    reason: str
    since: float


def held(producer: Producer, account: str | None = None, limit: int = 1000) -> list[Held]:
    """Unknown messages, oldest first, optionally of one account."""
    out: list[Held] = []
    resolved: list[str] = []
    start = 0
    while len(out) < limit:
        ids = cast(list[str], producer.redis.zrange(keys.UNKNOWN, start, start + 999))
        if not ids:
            break
        start += len(ids)
        pipe = producer.redis.pipeline(transaction=False)
        for mid in ids:
            pipe.hmget(keys.message(mid), "status", "account", "campaign", "reason", "updated")
        for mid, (status, acct, campaign, reason, updated) in zip(ids, pipe.execute(), strict=True):
            if status != Status.UNKNOWN.value:
                resolved.append(mid)  # resolved, or gone with its record: tidied below
                continue
            if account is None or acct == account:
                out.append(Held(mid, acct, campaign or None, reason or "", float(updated or 0)))
    if resolved:
        producer.redis.zrem(keys.UNKNOWN, *resolved)
    return out[:limit]


def resolve(
    producer: Producer, ids: Iterable[str], decision: Decision, note: str = ""
) -> dict[str, bool]:
    """Apply an operator's decision to unknown messages; per id, whether it was still unknown."""
    done: dict[str, bool] = {}
    for mid in ids:
        fields = cast(list[str | None], producer.redis.hmget(keys.message(mid), "data"))
        if fields[0] is None:
            done[mid] = False
            continue
        message = Message.from_record(fields[0])
        why = f"operator: {note}" if note else "operator"
        to, what, due = {
            "resend": (Status.QUEUED, "resend", time.time()),
            "sent": (Status.SENT, "marked sent", None),
            "failed": (Status.FAILED, "marked failed", None),
        }[decision]
        move = Move(
            mid,
            message.account,
            message.campaign,
            Status.UNKNOWN,
            to,
            f"{why}: {what}",
            due=due,
            idempotency_key=message.idempotency_key,
            lane=message.lane.value,
        )
        done[mid] = producer.store.move(move)
    return done
