"""The outcome -> action policy (worker/actions.py), the heart of the worker, as a table: for
each outcome class and situation, the status the message moves to, whether the try counts,
how long it waits, and what is held."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from sms.backoff import RetryPolicy
from sms.message import Status
from sms.providers.base import Outcome, OutcomeKind
from worker.actions import CONFIG_HOLD, DEFAULT_COOLDOWN, DEFAULT_QUOTA_HOLD, Action, decide

POLICY = RetryPolicy(max_attempts=6, base=1.0, cap=300.0, max_age=24 * 3600.0)
HALF = 0.5  # the backoff's random draw: half of its ceiling
K = OutcomeKind
DAY = 24 * 3600.0


@dataclass(frozen=True)
class Case:
    """One row: an outcome in a situation, and the action expected."""

    name: str
    outcome: Outcome
    expected: Action
    attempts: int = 0  # tries before this one
    age: float = 10.0  # seconds since the message was enqueued
    resend_unknown: bool = False  # the adapter (or account) says a resend cannot send twice


def held(reason: str, wait: float, scope: Literal["account", "sender"] = "account") -> Action:
    return Action(Status.QUEUED, reason, delay=wait, cooldown=wait, scope=scope)


TABLE = [
    Case(
        "accepted: sent, counted, with the provider's id",
        Outcome(K.ACCEPTED, "ok", provider_id="p-1"),
        Action(Status.SENT, "ok", count_attempt=True, provider_id="p-1"),
    ),
    Case(
        "rejected: failed for good, counted",
        Outcome(K.REJECTED, "invalid number"),
        Action(Status.FAILED, "invalid number", count_attempt=True),
    ),
    Case(
        "rejected without words: says rejected",
        Outcome(K.REJECTED),
        Action(Status.FAILED, "rejected", count_attempt=True),
    ),
    Case(
        "rate limited with Retry-After: waits and holds the account that long, costs no try",
        Outcome(K.RATE_LIMITED, "429", retry_after=7.0),
        held("rate limited: 429", 7.0),
        attempts=5,
    ),
    Case(
        "rate limited without a time: the default cooldown",
        Outcome(K.RATE_LIMITED, "429"),
        held("rate limited: 429", DEFAULT_COOLDOWN),
    ),
    Case(
        "quota exhausted with a reset time: held until then",
        Outcome(K.QUOTA_EXHAUSTED, "daily cap", retry_after=1800.0),
        held("quota exhausted: daily cap", 1800.0),
    ),
    Case(
        "quota exhausted without a time: held an hour",
        Outcome(K.QUOTA_EXHAUSTED, "daily cap"),
        held("quota exhausted: daily cap", DEFAULT_QUOTA_HOLD),
    ),
    Case(
        "config error: the account held, the message waits, no try counted; what to do said",
        Outcome(K.CONFIG_ERROR, "bad token"),
        held(
            "account held, config error: bad token (fix the account's credentials in settings "
            "and restart the workers, or its billing or API access at the provider)",
            CONFIG_HOLD,
        ),
    ),
    Case(
        "config error of a sender: only that sender held; what to do said",
        Outcome(K.CONFIG_ERROR, "number not owned", scope="sender"),
        held(
            "sender held, config error: number not owned (enable this number for SMS at the "
            "provider, or send from one it has enabled)",
            CONFIG_HOLD,
            "sender",
        ),
    ),
    Case(
        "config error after a day: failed, an operator had a day to mend it",
        Outcome(K.CONFIG_ERROR, "bad token"),
        Action(
            Status.FAILED,
            "config error, gave up: bad token (fix the account's credentials in settings and "
            "restart the workers, or its billing or API access at the provider)",
        ),
        age=DAY + 1,
    ),
    Case(
        "unknown where a resend could send twice: held as unknown, counted",
        Outcome(K.UNKNOWN, "timeout after send"),
        Action(Status.UNKNOWN, "timeout after send", count_attempt=True),
    ),
    Case(
        "unknown where a resend is safe: retried with backoff",
        Outcome(K.UNKNOWN, "502"),
        Action(Status.QUEUED, "retrying: 502", count_attempt=True, delay=0.5),
        resend_unknown=True,
    ),
    Case(
        "unknown, safe to resend, out of tries: stays unknown, never failed",
        Outcome(K.UNKNOWN, "502"),
        Action(Status.UNKNOWN, "gave up after 6 attempts: 502", count_attempt=True),
        attempts=5,
        resend_unknown=True,
    ),
    Case(
        "retryable, first failure: retried within base seconds",
        Outcome(K.RETRYABLE, "503"),
        Action(Status.QUEUED, "retrying: 503", count_attempt=True, delay=1.0 * HALF),
    ),
    Case(
        "retryable, fourth failure: the ceiling doubles each time",
        Outcome(K.RETRYABLE, "503"),
        Action(Status.QUEUED, "retrying: 503", count_attempt=True, delay=8.0 * HALF),
        attempts=3,
    ),
    Case(
        "retryable, out of tries: failed",
        Outcome(K.RETRYABLE, "503"),
        Action(Status.FAILED, "gave up after 6 attempts: 503", count_attempt=True),
        attempts=5,
    ),
    Case(
        "retryable after a day: failed however few the tries",
        Outcome(K.RETRYABLE, "503"),
        Action(Status.FAILED, "gave up after 1 attempts: 503", count_attempt=True),
        age=DAY + 1,
    ),
]


@pytest.mark.parametrize("case", TABLE, ids=[c.name for c in TABLE])
def test_each_outcome_becomes_one_action(case: Case) -> None:
    action = decide(
        case.outcome,
        attempts=case.attempts,
        age=case.age,
        resend_unknown=case.resend_unknown,
        policy=POLICY,
        rand=lambda: HALF,
    )
    assert action == case.expected


def test_every_outcome_class_is_in_the_table() -> None:
    assert {case.outcome.kind for case in TABLE} == set(OutcomeKind)


def test_a_wait_is_never_longer_than_the_cap() -> None:
    action = decide(
        Outcome(K.RETRYABLE, "503"),
        attempts=4,
        age=0.0,
        resend_unknown=False,
        policy=RetryPolicy(max_attempts=50, base=100.0, cap=300.0),
        rand=lambda: 0.999,
    )
    assert action.delay is not None and action.delay <= 300.0
