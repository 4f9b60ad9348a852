"""How fast one worker process may send through each account: buckets, cooldowns, learning.

Every send first takes a token from its account's bucket (and its sender's, where a
`sender_rate` is set) through the shared Lua script, which also refuses while the account cools
down after a rate-limit answer. The account's rate is its configured `rate`, lowered by what the
provider's rate-limit answers teach (sms.learning); with no `rate` configured, it is learnt.
"""

from __future__ import annotations

import time
from typing import cast

import redis.asyncio as aredis

from sms import keys
from sms.encoding import segment_info
from sms.learning import Learnt, accepted, limited
from sms.message import Message
from sms.ratelimit import Claim, Limit, RateLimiter
from sms.settings import Settings

REFRESH = 0.5  # seconds between reads (and growth steps) of an account's learnt rate
LEARNT_BURST = 0.1  # a learnt rate's burst, in seconds of that rate
MEASURED_SECONDS = 3  # complete seconds of accepted counts looked at after a rate-limit answer


class Pacer:
    """Token claims for each message, and what each answer teaches about the account's rate."""

    def __init__(self, settings: Settings, client: aredis.Redis) -> None:
        self.settings = settings
        self.redis = client
        self.limiter = RateLimiter(client)
        self._learnt: dict[str, tuple[Learnt, float]] = {}
        self._grown: dict[str, float] = {}

    async def rate(self, account: str) -> Learnt:
        """The account's learnt state, read again at most every REFRESH seconds."""
        now = time.time()
        cached = self._learnt.get(account)
        if cached is not None and now - cached[1] < REFRESH:
            return cached[0]
        raw = cast(dict[str, str], await self.redis.hgetall(keys.learnt_rate(account)))
        state = Learnt.from_hash(raw, self.settings.providers[account].rate)
        self._learnt[account] = (state, now)
        return state

    async def claims(self, msg: Message) -> list[Claim]:
        """The buckets a send of `msg` takes from."""
        account = self.settings.providers[msg.account]
        learnt = await self.rate(msg.account)
        if account.rate is not None:
            rate = min(account.rate, learnt.rate)
            burst = account.burst or max(1.0, account.rate)
            burst = burst if learnt.ceiling is None else max(1.0, rate * LEARNT_BURST)
        else:
            rate, burst = learnt.rate, max(1.0, learnt.rate * LEARNT_BURST)
        claims = [Claim(keys.bucket(msg.account), Limit(rate, burst))]
        if account.sender_rate is not None:
            n = segment_info(msg.body).segments if account.sender_rate_unit == "segments" else 1
            limit = Limit(account.sender_rate, max(1.0, account.sender_rate))
            claims.append(Claim(keys.sender_bucket(msg.account, msg.sender), limit, max(1, n)))
        return claims

    async def take(self, msg: Message, max_wait: float) -> float:
        """Wait for the message's tokens (and any cooldown) up to `max_wait`; 0 when taken."""
        claims = await self.claims(msg)
        return await self.limiter.take(msg.account, keys.cooldown(msg.account), claims, max_wait)

    async def on_accepted(self, account: str) -> None:
        """Grow the account's rate, at most every REFRESH seconds per process."""
        now = time.time()
        if now - self._grown.get(account, 0.0) < REFRESH:
            return
        self._grown[account] = now
        cap = self.settings.providers[account].rate
        state = await self.rate(account)
        grown = accepted(state, now, cap or float("inf"))
        if grown != state:
            await self._store(account, grown, now)

    async def on_limited(self, account: str) -> None:
        """A rate-limit answer: lower the account's rate for every worker."""
        now = time.time()
        second = int(now)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.learnt_rate(account))
        for s in range(second - MEASURED_SECONDS, second + 1):
            pipe.get(keys.accepted_in(account, s))
        raw, *counts = await pipe.execute()
        state = Learnt.from_hash(cast(dict[str, str], raw), self.settings.providers[account].rate)
        # The provider's limit is at least the most it accepted in one recent second (the
        # current second, though not over yet, counts too: a burst can fill the limit early).
        measured = max(int(c or 0) for c in counts)
        lowered = limited(state, now, measured or None)
        if lowered != state:
            await self._store(account, lowered, now)

    async def _store(self, account: str, state: Learnt, now: float) -> None:
        await self.redis.hset(keys.learnt_rate(account), mapping=state.as_hash())
        await self.redis.expire(keys.learnt_rate(account), 7 * 24 * 3600)
        self._learnt[account] = (state, now)
