"""Limits learnt when nobody configured one (and followed when a provider allows less).

An account without a `rate` starts slowly and, while its sends wait for tokens and the provider
accepts them, doubles its rate each second. On a rate-limit answer, the most the provider
accepted in any recent one-second window becomes the ceiling (or, without that measure, the
rate found too fast less a tenth); the rate settles just under the ceiling and then probes
above it very slowly, so it stays near the provider's real limit, meeting a rate-limit answer
only now and then. An account with a configured rate learns the same way below it: the
configured rate is never exceeded, but a provider that allows less is followed. The policy is a
pure function of state, event and time. A ceiling not met again for a minute is forgotten and
the limit looked for again, so a provider's passing squeeze does not slow an account for good.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

INITIAL = 2.0  # requests per second before anything is known
FLOOR = 0.2
CEILING = 10_000.0
SLOW_START = 1.0  # growth per second while no limit has been met (doubling)
TOO_FAST = 0.9  # without a measure, the ceiling is this fraction of the rate found too fast
SETTLE = 0.95  # fraction of the ceiling to climb back to quickly
PROBE = 0.001  # growth per second above SETTLE x ceiling (0.1 % of the ceiling)
QUIET = 1.0  # seconds after a decrease during which further answers count as the same one
FORGET = 60.0  # seconds of sends without a rate-limit answer after which the ceiling is forgotten


@dataclass(frozen=True, slots=True)
class Learnt:
    """What is known of an account's limit: the rate in use and the rate found too fast."""

    rate: float = INITIAL
    ceiling: float | None = None  # None while no limit has been met
    updated: float = 0.0
    decreased: float = 0.0

    def as_hash(self) -> dict[str, str]:
        """The Redis hash form."""
        return {
            "rate": repr(self.rate),
            "ceiling": "" if self.ceiling is None else repr(self.ceiling),
            "updated": repr(self.updated),
            "decreased": repr(self.decreased),
        }

    @classmethod
    def from_hash(cls, raw: dict[str, str], configured: float | None = None) -> Learnt:
        """Read the Redis hash form; an empty hash starts at the configured rate, if any."""
        if not raw:
            return cls(rate=configured) if configured else cls()
        ceiling = raw.get("ceiling") or None
        return cls(
            rate=float(raw["rate"]),
            ceiling=float(ceiling) if ceiling else None,
            updated=float(raw.get("updated", 0)),
            decreased=float(raw.get("decreased", 0)),
        )


def accepted(state: Learnt, now: float, cap: float = CEILING) -> Learnt:
    """The provider kept accepting until `now`: grow the rate for the time since the last step."""
    if state.updated == 0.0:
        return replace(state, updated=now)
    dt = min(max(0.0, now - state.updated), 5.0)
    rate = state.rate
    if state.ceiling is not None and now - state.decreased > FORGET:
        # A limit met long ago may have been lifted: look for it again from here.
        state = replace(state, ceiling=None)
    if state.ceiling is None:
        rate *= (1.0 + SLOW_START) ** dt
    elif rate < SETTLE * state.ceiling:
        rate += (SETTLE * state.ceiling - rate) * min(1.0, dt)
    else:
        rate += PROBE * state.ceiling * dt
    return replace(state, rate=min(cap, rate), updated=now)


def limited(state: Learnt, now: float, accepted_per_second: float | None = None) -> Learnt:
    """The provider said "slow down" at `now`: find the ceiling and settle under it.

    The most the provider accepted in one recent second, when known, is the best measure of its
    limit; otherwise the ceiling is a tenth under the rate that was too fast.
    """
    if now - state.decreased < QUIET:
        return state
    if accepted_per_second:
        ceiling = max(FLOOR, min(accepted_per_second, state.rate))
    else:
        ceiling = max(FLOOR, state.rate * TOO_FAST)
    rate = max(FLOOR, ceiling * SETTLE)
    return Learnt(rate=rate, ceiling=ceiling, updated=now, decreased=now)
