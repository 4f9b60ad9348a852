"""Token buckets shared by every worker: the policy here, the atomic step in ratelimit.lua.

A bucket holds at most `burst` tokens and refills at `rate` tokens per second; a send takes one
(or, for a sender counted in segments, one per segment, at most `burst`). The script reads Redis
`TIME`, so all workers on all machines share one clock; it never changes a bucket it refuses;
and it grants nothing while the account cools down after a provider's rate-limit answer.
`TokenBucket` is the same policy in Python, the model the property tests hold the script to.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import redis.asyncio as aredis

SCRIPT = resources.files("sms").joinpath("ratelimit.lua").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Limit:
    """A rate in tokens per second and the most tokens that can be taken at once."""

    rate: float
    burst: float

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a limit needs rate > 0 and burst >= 1, not {self}")


@dataclass
class TokenBucket:
    """The bucket as a pure model: `take(now, n)` returns 0 when granted, else seconds to wait."""

    limit: Limit
    tokens: float | None = None
    ts: float = 0.0

    def available(self, now: float) -> float:
        """Tokens the bucket holds at `now`."""
        if self.tokens is None:
            return self.limit.burst
        return min(self.limit.burst, self.tokens + max(0.0, now - self.ts) * self.limit.rate)

    def take(self, now: float, n: float = 1.0) -> float:
        """Take `n` tokens at `now`; a refusal changes nothing."""
        have = self.available(now)
        if have < n:
            return (n - have) / self.limit.rate
        self.tokens, self.ts = have - n, now
        return 0.0


@dataclass(frozen=True, slots=True)
class Claim:
    """Tokens wanted from one bucket."""

    key: str
    limit: Limit
    n: float = 1.0


class RateLimiter:
    """Takes tokens from Redis buckets through the one script."""

    def __init__(self, client: aredis.Redis) -> None:
        self._script = client.register_script(SCRIPT)

    async def try_take(self, cooldown: str, claims: list[Claim]) -> float:
        """Take from every bucket or from none; 0 when granted, else seconds to wait.

        Nothing is granted while the `cooldown` key exists; the wait is then its time to live.
        """
        return (await self.decide(cooldown, claims))[0]

    async def decide(self, cooldown: str, claims: list[Claim]) -> tuple[float, float]:
        """The script's answer: (seconds to wait, 0 when granted; Redis time of the decision)."""
        keys = [cooldown, *(c.key for c in claims)]
        args: list[float] = []
        for c in claims:
            args += [c.limit.rate, c.limit.burst, min(c.n, c.limit.burst)]
        wait, now = await self._script(keys=keys, args=[repr(a) for a in args])
        return float(wait), float(now)
