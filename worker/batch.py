"""One metered batch: an account's ids, each sent as soon as its token is there.

Metering (worker/meter.py) put these ids on Celery's queue because the account can send them
in about the next second. Each id then goes its own way on the process's event loop, beside
every other batch the process holds: wait for a place among the account's calls in flight,
take a token from the shared bucket, claim and read the record in one step (queued -> sending,
with an owner and a lease), send it through the account's adapter, classify the answer and
record the result in the same atomic step that releases the claim. An id whose token would be
longer in coming than TOKEN_WAIT goes back to its ready queue, unclaimed: no batch holds a
process while an account's rate catches up. So does the part of a bulk batch that arrives when
the process already holds its share of the account's metered work (worker/meter.py
`worker_share`): another worker, with room, gets it at the next metering.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sms import metrics
from sms.backoff import RetryPolicy
from sms.gate import SUPPRESSED_REASON
from sms.message import Lane, Message, Status
from sms.phone import mask
from sms.providers.base import OutcomeKind
from sms.store import MOVED_WITH_HELD_RECEIPTS, Move
from worker.actions import Action, decide
from worker.gate import BULK, TRANSACTIONAL
from worker.meter import worker_share
from worker.runtime import Runtime

log = logging.getLogger("salvo.worker")

POLICY = RetryPolicy()
#: The longest an id waits in a worker for its account's token; metering releases about one
#: horizon of the rate, so this is met only when the account was slowed down meanwhile.
TOKEN_WAIT = 2.0
#: A claim's lease: the account's call timeout plus this, for recording the outcome.
LEASE_MARGIN = 30.0


@dataclass
class BatchResult:
    """What happened to a batch's messages, by resulting status (for logs and tests)."""

    statuses: Counter[str] = field(default_factory=Counter)


async def process_batch(rt: Runtime, account: str, lane: str, ids: list[str]) -> BatchResult:
    """Send every message of the batch that is still due to be sent."""
    result = BatchResult()
    if account not in rt.adapters:
        reason = f"unknown provider account {account!r}"
        moves = [Move(mid, account, None, Status.QUEUED, Status.FAILED, reason) for mid in ids]
        for moved in await rt.store.move_many(moves):
            result.statuses[Status.FAILED.value if moved else "skipped"] += 1
        return result
    if lane == Lane.BULK.value:
        # Tasks go to whichever worker asks first, and a busy one asks as often as an idle
        # one: what this process cannot start before its share is done goes back to be
        # metered again, for a worker with room. Reminders are never given back.
        room = worker_share(rt.settings.providers[account]) - rt.preparing(account).waiting()
        ids, back = ids[: max(0, room)], ids[max(0, room) :]
        if back:
            result.statuses["given back"] += await rt.store.give_back(account, lane, back)
    owner = f"{rt.name}:{uuid.uuid4().hex[:8]}"
    await asyncio.gather(*(_send_one(rt, account, lane, mid, owner, result) for mid in ids))
    return result


async def _send_one(
    rt: Runtime, account: str, lane: str, mid: str, owner: str, result: BatchResult
) -> None:
    """Token, claim with read, checks, call, outcome: one message.

    Two places per account bound the work in hand: one among the sends being prepared (token,
    claim, send-time checks) and one among the provider calls in flight (`max_in_flight` of
    each). A call's place is held for the call alone, so the round trips of the next sends'
    preparation overlap the calls in flight and never keep a call's place empty. The claim
    comes after the token, and the call as soon as a place is free, so a worker that dies holds
    (and leaves to the lease sweeper as `unknown`) at most the calls it had in flight and the
    sends it had prepared.
    """
    settings = rt.settings.providers[account]
    loop = asyncio.get_running_loop()
    priority = TRANSACTIONAL if lane == Lane.TRANSACTIONAL.value else BULK
    preparing = rt.preparing(account)
    await preparing.acquire(priority)
    try:
        wait = await rt.pacer.take(account, loop.time() + TOKEN_WAIT, priority)
        if wait > 0:
            await _back(rt, account, lane, mid, Status.QUEUED, wait, owner="")
            result.statuses["waiting"] += 1
            return
        claimed = await rt.recorder.claim(mid, account, owner, settings.timeout + LEASE_MARGIN)
        if claimed.status in ("cancelled", "expired"):
            status = Status(claimed.status)
            why = "campaign cancelled" if status is Status.CANCELLED else "expired before sending"
            move = Move(mid, account, claimed.campaign, Status.QUEUED, status, why, lane=lane)
            await rt.recorder.record(move)
            result.statuses[status.value] += 1
            return
        if claimed.message is None:  # paused (set aside), or no longer queued
            result.statuses["paused" if claimed.status == "paused" else "skipped"] += 1
            return
        msg = claimed.message
        suppressed, until = await rt.audience.check(msg)
        if suppressed or until is not None:
            await _audience(rt, msg, lane, owner, until)
            result.statuses["suppressed" if suppressed else "quiet_hours"] += 1
            return
        wait = await rt.pacer.take_sender(msg, loop.time() + TOKEN_WAIT)
        if wait > 0:
            await _back(rt, account, lane, mid, Status.SENDING, wait, owner=owner)
            result.statuses["waiting"] += 1
            return
        calls = rt.in_flight(account)
        await calls.acquire(priority)
    finally:
        preparing.release()
    try:
        action, counters = await _call(rt, msg, claimed.attempts, claimed.created)
    finally:
        calls.release()
    move = Move(
        msg.id,
        account,
        msg.campaign,
        Status.SENDING,
        action.status,
        action.reason,
        owner=owner,
        provider_id=action.provider_id,
        count_attempt=action.count_attempt,
        due=None if action.delay is None else time.time() + action.delay,
        accepted_at=int(time.time() * 10) if action.status is Status.SENT else None,
        idempotency_key=msg.idempotency_key,
        lane=msg.lane.value,
    )
    moved = await rt.recorder.record(move, counters)
    if not moved:
        log.warning("%s: lease lost before its outcome (%s) was recorded", msg.id, action.status)
    elif moved == MOVED_WITH_HELD_RECEIPTS and action.provider_id:
        # The provider's receipts overtook this record; they waited for it.
        for applied in await rt.receipts.apply_held(account, action.provider_id):
            log.info("%s: held receipt applied (%s -> %s)", msg.id, applied.before, applied.after)
    result.statuses[action.status.value] += 1


async def _call(
    rt: Runtime, msg: Message, attempts: int, created: float
) -> tuple[Action, dict[str, float]]:
    """Send `msg` through its account's adapter; the action its outcome calls for, and the
    account counters that go with it. Holds (account or sender) are set here."""
    account = msg.account
    adapter = rt.adapters[account]
    resend = adapter.resend_is_safe
    started = time.monotonic()
    outcome = await adapter.send(
        rt.session(account), msg, receipt_url=rt.receipt_url(account, msg.id)
    )
    latency = time.monotonic() - started
    if outcome.opted_out:  # the provider says the recipient opted out: never send it again
        await rt.audience.gate.record_opt_out(rt.redis, account, msg.to, outcome.reason)
    counters = {
        metrics.outcome_field(outcome.kind.value): 1.0,
        metrics.latency_field(latency): 1.0,
        "latency_count": 1.0,
        "latency_sum": latency,
    }
    age = time.time() - max(created, msg.send_at.timestamp() if msg.send_at else 0.0)
    action = decide(
        outcome,
        attempts=attempts,
        age=age,
        resend_unknown=resend,
        policy=POLICY,
        rand=random.random,
    )
    if outcome.kind is OutcomeKind.ACCEPTED:
        await rt.pacer.on_accepted(account)
        due = max(created, msg.send_at.timestamp() if msg.send_at else 0.0)
        counters.update(metrics.wait_fields(msg.lane.value, max(0.0, time.time() - due)))
    elif outcome.kind is OutcomeKind.CONFIG_ERROR:
        log.error("%s held: %s", rt.holds.describe(msg, action), outcome.reason)
    else:
        log.info("%s to %s: %s %s", msg.id, mask(msg.to), outcome.kind.value, outcome.reason)
    if action.status is Status.QUEUED and action.count_attempt:
        counters["retries"] = 1.0
    if outcome.kind is OutcomeKind.RATE_LIMITED:
        await rt.pacer.on_limited(account)
    await rt.holds.apply(msg, action)
    return action, counters


async def _audience(rt: Runtime, msg: Message, lane: str, owner: str, until: float | None) -> None:
    """A claimed message the audience checks stop (sms/gate.py): its recipient opted out since
    it was enqueued (it ends `suppressed`, never sent), or it is in the recipient's quiet hours
    (back to its ready queue, due when they end; no attempt counted)."""
    if until is None:
        to, why, due = Status.SUPPRESSED, SUPPRESSED_REASON, None
    else:
        when = datetime.fromtimestamp(until, UTC).isoformat(timespec="minutes")
        to, why, due = (
            Status.QUEUED,
            f"waiting for quiet hours (recipient's time) until {when}",
            until,
        )
    move = Move(
        msg.id,
        msg.account,
        msg.campaign,
        Status.SENDING,
        to,
        why,
        owner=owner,
        due=due,
        idempotency_key=msg.idempotency_key if until is None else None,
        lane=lane,
    )
    await rt.recorder.record(move)


async def _back(
    rt: Runtime, account: str, lane: str, mid: str, status: Status, wait: float, *, owner: str
) -> None:
    """Put a message that cannot have its token in time back in its ready queue, due when the
    token will be there; no attempt is counted (it was never sent)."""
    reason = "waiting for the account's rate"
    due = time.time() + wait
    await rt.recorder.record(
        Move(mid, account, None, status, Status.QUEUED, reason, owner=owner, due=due, lane=lane)
    )
