"""The one place where an outcome class becomes an action on the message and its account."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from sms.backoff import RetryPolicy, compute_backoff
from sms.holds import fix
from sms.message import Status
from sms.providers.base import Outcome, OutcomeKind

#: How long an account is held after a config error before it is tried again.
CONFIG_HOLD = 300.0
#: Wait after a rate-limit answer that named no time of its own.
DEFAULT_COOLDOWN = 1.0
#: Hold after a quota answer that named no reset time.
DEFAULT_QUOTA_HOLD = 3600.0


@dataclass(frozen=True, slots=True)
class Action:
    """What to do with one message after one outcome, and whether its account must pause."""

    status: Status
    reason: str
    count_attempt: bool = False
    delay: float | None = None  # back into the schedule after this many seconds
    provider_id: str | None = None
    cooldown: float | None = None  # hold what `scope` names this many seconds
    scope: Literal["account", "sender"] = "account"  # the account, or the message's sender


def decide(
    outcome: Outcome,
    *,
    attempts: int,
    age: float,
    resend_unknown: bool,
    policy: RetryPolicy,
    rand: Callable[[], float],
) -> Action:
    """Map an outcome to an action. `attempts` counts tries before this one."""
    kind = outcome.kind
    if kind is OutcomeKind.ACCEPTED:
        return Action(
            Status.SENT, outcome.reason, count_attempt=True, provider_id=outcome.provider_id
        )
    if kind is OutcomeKind.REJECTED:
        return Action(Status.FAILED, outcome.reason or "rejected", count_attempt=True)
    if kind is OutcomeKind.RATE_LIMITED:
        wait = outcome.retry_after if outcome.retry_after is not None else DEFAULT_COOLDOWN
        return Action(Status.QUEUED, f"rate limited: {outcome.reason}", delay=wait, cooldown=wait)
    if kind is OutcomeKind.QUOTA_EXHAUSTED:
        wait = outcome.retry_after if outcome.retry_after is not None else DEFAULT_QUOTA_HOLD
        return Action(
            Status.QUEUED, f"quota exhausted: {outcome.reason}", delay=wait, cooldown=wait
        )
    if kind is OutcomeKind.CONFIG_ERROR:
        todo = fix(outcome.scope)  # what an operator does about it, said wherever it shows
        if age > policy.max_age:  # held for a day: an operator had a day to mend it
            return Action(Status.FAILED, f"config error, gave up: {outcome.reason} ({todo})")
        held = "sender held" if outcome.scope == "sender" else "account held"
        return Action(
            Status.QUEUED,
            f"{held}, config error: {outcome.reason} ({todo})",
            delay=CONFIG_HOLD,
            cooldown=CONFIG_HOLD,
            scope=outcome.scope,
        )
    if kind is OutcomeKind.UNKNOWN and not resend_unknown:
        return Action(Status.UNKNOWN, outcome.reason, count_attempt=True)
    # RETRYABLE, or UNKNOWN where a resend is safe (or the account asked for it).
    tried = attempts + 1
    if tried >= policy.max_attempts or age > policy.max_age:
        final = Status.UNKNOWN if kind is OutcomeKind.UNKNOWN else Status.FAILED
        return Action(
            final, f"gave up after {tried} attempts: {outcome.reason}", count_attempt=True
        )
    delay = compute_backoff(tried, base=policy.base, cap=policy.cap, rand=rand)
    return Action(Status.QUEUED, f"retrying: {outcome.reason}", count_attempt=True, delay=delay)
