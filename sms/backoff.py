"""Exponential backoff with full jitter, as a pure function: the randomness is passed in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long a retryable message is tried before it fails for good."""

    max_attempts: int = 6
    base: float = 1.0  # seconds before the first retry, at most
    cap: float = 300.0  # no single wait is longer
    max_age: float = 24 * 3600.0  # seconds since enqueue after which a message stops retrying


def compute_backoff(attempts: int, *, base: float, cap: float, rand: Callable[[], float]) -> float:
    """Seconds to wait after `attempts` failed tries: uniform in [0, min(cap, base * 2**(n-1))].

    `rand` returns a float in [0, 1); pass `random.random` in production, a constant in tests.
    """
    if attempts < 1:
        return 0.0
    ceiling = min(cap, base * 2.0 ** min(attempts - 1, 62))
    return ceiling * rand()
