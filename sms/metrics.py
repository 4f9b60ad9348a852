"""The counters workers keep in Redis, so any process (the HTTP API's /metrics) can export them.

Per account, hash `keys.stats(account)`:
- `outcome:{class}`: provider answers by outcome class (accepted, rejected, rate_limited, ...);
- `status:{status}`: messages that entered each status;
- `latency_le:{bound}`: sends whose provider call took at most `bound` seconds and more than the
  bound below it (not cumulative), `latency_sum`, `latency_count`;
- `wait_le:{lane}:{bound}` (not cumulative), `wait_sum:{lane}`, `wait_count:{lane}`: how long
  each accepted message of a lane waited, from when it was due (enqueued, or its `send_at`) to
  the provider's acceptance; the reminder lane's figure is the one users feel;
- `retries`: sends put back in the schedule after a retryable failure;
- `callbacks:{outcome}`: status callbacks posted (worker/callbacks.py): `delivered`, `failed`
  (one try that failed, tried again later), `dropped` (given up after `status_webhook_max_age`);
- `receipts_dropped`: receipts held for a provider id (see sms/receipts.py) whose hold ended
  with no send recorded under it, dropped by the dispatcher with a warning per provider id.
"""

from __future__ import annotations

import bisect

#: The field counting held receipts the dispatcher dropped when their hold ended.
RECEIPTS_DROPPED = "receipts_dropped"
#: The prefix of the fields counting status callbacks by outcome (`callbacks:delivered`).
CALLBACKS = "callbacks"


def callback_field(outcome: str) -> str:
    """The field counting status callbacks with one outcome (delivered, failed, dropped)."""
    return f"{CALLBACKS}:{outcome}"


LATENCY_BOUNDS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def outcome_field(kind: str) -> str:
    """The field counting answers of one outcome class."""
    return f"outcome:{kind}"


def status_field(status: str) -> str:
    """The field counting messages that entered one status."""
    return f"status:{status}"


def latency_field(seconds: float) -> str:
    """The (non-cumulative) latency bucket a call of `seconds` falls in."""
    i = bisect.bisect_left(LATENCY_BOUNDS, seconds)
    return f"latency_le:{LATENCY_BOUNDS[i]!r}" if i < len(LATENCY_BOUNDS) else "latency_le:+Inf"


#: Bounds of the due-to-accepted wait, in seconds: a reminder's first-class figure.
WAIT_BOUNDS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


def wait_fields(lane: str, seconds: float) -> dict[str, float]:
    """The counters one accepted message of `lane` adds, having waited `seconds` since due."""
    i = bisect.bisect_left(WAIT_BOUNDS, seconds)
    bucket = repr(WAIT_BOUNDS[i]) if i < len(WAIT_BOUNDS) else "+Inf"
    return {f"wait_le:{lane}:{bucket}": 1.0, f"wait_sum:{lane}": seconds, f"wait_count:{lane}": 1.0}
