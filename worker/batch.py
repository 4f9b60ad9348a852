"""The worker's inner loop: one batch of message ids, from records to recorded outcomes.

For each id: skip it unless it is still queued; end it if its campaign was cancelled or it
expired; set it aside if its campaign is paused; put it back in the schedule if it is not due or
its account is cooling down; otherwise claim it (queued -> sending, with an owner and a lease),
send it through its account's adapter, classify the answer and record the result in the same
atomic step that releases the claim.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sms import keys, metrics
from sms.backoff import RetryPolicy
from sms.message import Message, Status
from sms.phone import mask
from sms.providers.base import OutcomeKind
from sms.store import MOVED_WITH_HELD_RECEIPTS, Move
from worker.actions import decide
from worker.runtime import Runtime

log = logging.getLogger("salvo.worker")

POLICY = RetryPolicy()
#: A batch's sends wait in the worker this long at most for their tokens; the rest of the batch
#: goes back to the schedule. (Messages are claimed only once they have their tokens.)
MAX_TOKEN_WAIT = 60.0
#: A claim's lease: the account's call timeout plus this, for recording the outcome.
LEASE_MARGIN = 30.0


@dataclass
class BatchResult:
    """What happened to a batch's messages, by resulting status (for logs and tests)."""

    statuses: Counter[str] = field(default_factory=Counter)


async def process_batch(rt: Runtime, ids: list[str]) -> BatchResult:
    """Send every message of the batch that is still due to be sent."""
    result = BatchResult()
    rows = await rt.store.read_many(ids)
    now = time.time()
    campaigns = {r["campaign"] for r in rows if r and r["campaign"]}
    states, cooling = await _batch_state(rt, campaigns, {r["account"] for r in rows if r})
    moves: list[Move] = []
    paused: dict[str, list[Message]] = {}
    to_send: list[Message] = []

    def triage(msg: Message, state: str | None) -> None:
        """End, set aside, put back in the schedule, or keep `msg` for sending."""

        def end(status: Status, reason: str, due: float | None = None) -> None:
            moves.append(
                Move(
                    msg.id,
                    msg.account,
                    msg.campaign,
                    Status.QUEUED,
                    status,
                    reason,
                    due=due,
                    idempotency_key=msg.idempotency_key,
                )
            )
            result.statuses[status.value] += 1

        if msg.account not in rt.adapters:
            end(Status.FAILED, f"unknown provider account {msg.account!r}")
        elif state == "cancelled":
            end(Status.CANCELLED, "campaign cancelled")
        elif msg.expires_at is not None and msg.expires_at.timestamp() <= now:
            end(Status.EXPIRED, "expired before it could be sent")
        elif state == "paused" and msg.campaign:
            paused.setdefault(msg.campaign, []).append(msg)
        elif msg.send_at is not None and msg.send_at.timestamp() > now + 0.5:
            end(Status.QUEUED, "scheduled", due=msg.send_at.timestamp())
        elif cooling.get(msg.account, 0.0) > now:
            end(Status.QUEUED, "waiting: account cooling down", due=cooling[msg.account])
        else:
            to_send.append(msg)

    for row in rows:
        if row is None or row["status"] != Status.QUEUED:
            result.statuses["skipped"] += 1
            continue
        msg = Message.from_record(row["data"])
        triage(msg, states.get(msg.campaign or ""))
    # Set aside only while the campaign is still paused, in one step with that check: a resume
    # or cancel landing since the state was read would otherwise never see these ids.
    for campaign, held in list(paused.items()):
        state = await rt.store.set_aside(campaign, [m.id for m in held])
        if state == "paused":
            result.statuses["paused"] += len(held)
            continue
        del paused[campaign]
        for msg in held:
            triage(msg, state)
    await rt.store.move_many(moves)
    if not to_send:
        return result
    owner = f"{rt.name}:{uuid.uuid4().hex[:8]}"
    deadline = asyncio.get_running_loop().time() + MAX_TOKEN_WAIT
    await asyncio.gather(*(_send_one(rt, msg, owner, deadline, result) for msg in to_send))
    return result


async def _send_one(
    rt: Runtime, msg: Message, owner: str, deadline: float, result: BatchResult
) -> None:
    """Take the message's tokens, claim it, send it, and record what the provider said.

    The claim comes last before the call, so a worker that dies holds (and leaves to the lease
    sweeper as `unknown`) only the messages it had in flight, not a whole batch.
    """
    account = msg.account
    adapter = rt.adapters[account]
    settings = rt.settings.providers[account]
    resend = adapter.idempotent_resend or settings.on_unknown == "resend"
    counters: dict[str, float] = {}
    async with rt.in_flight(account):
        wait = await rt.pacer.take(msg, deadline)
        if wait > 0:
            reason = "waiting for the account's rate"
            due = time.time() + wait
            await rt.recorder.record(
                Move(msg.id, account, msg.campaign, Status.QUEUED, Status.QUEUED, reason, due=due)
            )
            result.statuses["waiting"] += 1
            return
        answer = await rt.recorder.claim(
            msg.id, account, msg.campaign, owner, settings.timeout + LEASE_MARGIN
        )
        if answer[0] != "claimed":
            result.statuses["skipped"] += 1
            return
        attempts, created = int(answer[1]), float(answer[2])
        started = time.monotonic()
        outcome = await adapter.send(
            rt.session(account), msg, receipt_url=rt.receipt_url(account, msg.id)
        )
        latency = time.monotonic() - started
        counters = {
            metrics.outcome_field(outcome.kind.value): 1,
            metrics.latency_field(latency): 1,
            "latency_count": 1,
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
        elif outcome.kind is OutcomeKind.CONFIG_ERROR:
            log.error("account %s is held: %s", account, outcome.reason)
        else:
            log.info("%s to %s: %s %s", msg.id, mask(msg.to), outcome.kind.value, outcome.reason)
        if action.status is Status.QUEUED and action.count_attempt:
            counters["retries"] = 1
        if outcome.kind is OutcomeKind.RATE_LIMITED:
            await rt.pacer.on_limited(account)
        if action.cooldown:
            await rt.cool_down(account, action.cooldown, action.reason)
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
    )
    moved = await rt.recorder.record(move, counters)
    if not moved:
        log.warning("%s: lease lost before its outcome (%s) was recorded", msg.id, action.status)
    elif moved == MOVED_WITH_HELD_RECEIPTS and action.provider_id:
        # The provider's receipts overtook this record; they waited for it.
        for applied in await rt.receipts.apply_held(account, action.provider_id):
            log.info("%s: held receipt applied (%s -> %s)", msg.id, applied.before, applied.after)
    result.statuses[action.status.value] += 1


async def _batch_state(
    rt: Runtime, campaigns: set[str], accounts: set[str]
) -> tuple[dict[str, str], dict[str, float]]:
    """The campaigns' states and the accounts' cooldowns (epoch s), in one round trip."""
    names, accounts_ = sorted(campaigns), sorted(accounts)
    pipe = rt.redis.pipeline(transaction=False)
    for c in names:
        pipe.hget(keys.campaign(c), "state")
    for a in accounts_:
        pipe.pttl(keys.cooldown(a))
    replies = await pipe.execute()
    states = {c: s for c, s in zip(names, replies, strict=False) if s}
    rt.note_cooldowns(dict(zip(accounts_, replies[len(names) :], strict=True)))
    return states, {a: rt.cooldown_until(a) for a in accounts_}
