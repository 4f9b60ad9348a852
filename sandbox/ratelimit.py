"""Strict sliding-window counters used for both the short rate limit and the long quota."""

from __future__ import annotations

import math
from collections import deque
from typing import Any


class Limit:
    """A configured limit: at most `limit` admitted requests in any `window` seconds."""

    __slots__ = ("limit", "window")

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = float(window)

    @classmethod
    def parse(cls, value: dict[str, Any] | None) -> Limit | None:
        """Build a Limit from its config form (`None` means unlimited)."""
        return None if value is None else cls(value["limit"], value["window"])


class SlidingWindow:
    """Timestamps of admitted requests for one credential, pruned lazily (amortised O(1))."""

    __slots__ = ("stamps",)

    def __init__(self) -> None:
        self.stamps: deque[float] = deque()

    def count(self, now: float, window: float) -> int:
        """Number of admitted requests in the half-open window (now - window, now]."""
        stamps = self.stamps
        edge = now - window
        while stamps and stamps[0] <= edge:
            stamps.popleft()
        return len(stamps)

    def add(self, now: float) -> None:
        """Record one admitted request."""
        self.stamps.append(now)

    def frees_at(self, now: float, limit: Limit) -> float:
        """Epoch time at which the count next drops (now, when nothing is counted)."""
        stamps = self.stamps
        n = self.count(now, limit.window)
        if limit.limit == 0:
            return now + limit.window
        if n >= limit.limit:
            return stamps[n - limit.limit] + limit.window
        return stamps[0] + limit.window if n else now

    def snapshot(self, now: float, limit: Limit) -> tuple[int, int, int]:
        """Return (limit, remaining, reset epoch seconds rounded up) for response headers."""
        remaining = max(0, limit.limit - self.count(now, limit.window))
        return limit.limit, remaining, math.ceil(self.frees_at(now, limit))

    def retry_after(self, now: float, limit: Limit) -> int:
        """Whole seconds (at least 1) until a slot frees."""
        return max(1, math.ceil(self.frees_at(now, limit) - now))
