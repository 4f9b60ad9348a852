"""How fast one worker process may send through each account: buckets, cooldowns, learning.

Every send first takes a token from its account's bucket (and its sender's, where a
`sender_rate` is set) through the shared Lua script, which also refuses while the account cools
down after a rate-limit answer. The account's rate is its configured `rate`, lowered by what the
provider's rate-limit answers teach (sms.learning); with no `rate` configured, it is learnt.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import redis.asyncio as aredis

from sms import keys
from sms.encoding import segment_info
from sms.learning import CEILING, Learnt, accepted, limited
from sms.message import Message
from sms.ratelimit import Claim, Limit, RateLimiter
from sms.settings import Account, Settings
from worker.gate import BULK, PriorityGate

REFRESH = 0.5  # seconds between reads (and growth steps) of an account's learnt rate
LEARNT_BURST = 0.1  # a learnt rate's burst, in seconds of that rate
MEASURED_SECONDS = 3  # seconds of accepted counts looked at after a rate-limit answer
CHUNK = 0.02  # seconds of an account's rate taken in one round trip (one token below 100/s)
RESERVE_LIFE = 0.1  # seconds a process may hold tokens it took ahead


def account_limit(account: Account, learnt: Learnt) -> Limit:
    """The account's bucket: its configured `rate` and `burst`, lowered by what the provider's
    answers taught (a learnt ceiling shrinks the burst to a tenth of a second of the rate);
    with no `rate` configured, the learnt rate."""
    if account.rate is not None:
        rate = min(account.rate, learnt.rate)
        burst = account.burst or max(1.0, account.rate)
        burst = burst if learnt.ceiling is None else max(1.0, rate * LEARNT_BURST)
        return Limit(rate, burst)
    return Limit(learnt.rate, max(1.0, learnt.rate * LEARNT_BURST))


class Pacer:
    """Token claims for each message, and what each answer teaches about the account's rate."""

    def __init__(self, settings: Settings, client: aredis.Redis) -> None:
        self.settings = settings
        self.redis = client
        self.limiter = RateLimiter(client)
        self._learnt: dict[str, tuple[Learnt, float]] = {}
        self._grown: dict[str, float] = {}
        self._reserve: dict[str, tuple[int, float]] = {}
        self._starved: dict[str, float] = {}
        self._gates: dict[str, PriorityGate] = {}

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

    async def limit(self, account: str) -> Limit:
        """The account's bucket limit now: configured, lowered by what it learnt."""
        return account_limit(self.settings.providers[account], await self.rate(account))

    async def take(self, account: str, deadline: float, priority: int = BULK) -> float:
        """Wait for one of the account's tokens (and any cooldown) until `deadline` (event-loop
        time). Returns 0 when taken, else the seconds still to wait (the caller puts the message
        back in its ready queue).

        Sends of one account in this process line up behind a gate, so one of them polls Redis
        at a time, transactional ones first, each with the account's rate as it is when its
        turn comes. At high
        rates the tokens are taken a few at a time (CHUNK seconds' worth) and spent from a
        short-lived reserve, sparing a round trip per message.
        """
        loop = asyncio.get_running_loop()
        gate = self._gates.get(account)
        if gate is None:
            gate = self._gates[account] = PriorityGate(1)
        # Nobody polls nor waits: a token in the reserve is this send's, without the gate.
        if gate.idle() and self._from_reserve(account, loop.time()):
            return 0.0
        async with gate.hold(priority):
            while True:
                if self._from_reserve(account, loop.time()):
                    return 0.0
                limit = await self.limit(account)
                chunk = max(1, min(int(limit.burst), int(limit.rate * CHUNK)))
                claims = [Claim(keys.bucket(account), limit, chunk)]
                wait = await self.limiter.try_take(keys.cooldown(account), claims)
                if wait <= 0:
                    if chunk > 1:
                        self._reserve[account] = (chunk - 1, loop.time() + RESERVE_LIFE)
                    return 0.0
                # Refused: the rate, not the work, is what holds these sends back.
                self._starved[account] = time.monotonic()
                if wait > deadline - loop.time():
                    return wait
                await asyncio.sleep(wait)

    def _from_reserve(self, account: str, now: float) -> bool:
        """Spend one of the tokens this process took ahead for `account`, if one is left and
        still fresh at `now` (event-loop time)."""
        left, until = self._reserve.get(account, (0, 0.0))
        if left > 0 and now < until:
            self._reserve[account] = (left - 1, until)
            return True
        return False

    async def take_sender(self, msg: Message, deadline: float) -> float:
        """Wait for the tokens of the message's sender number, where the account sets a
        `sender_rate` (one a send, or one a segment); 0 when taken or none is needed, else the
        seconds still to wait."""
        account = self.settings.providers[msg.account]
        if account.sender_rate is None:
            return 0.0
        n = segment_info(msg.body).segments if account.sender_rate_unit == "segments" else 1
        limit = Limit(account.sender_rate, max(1.0, account.sender_rate))
        claim = Claim(keys.sender_bucket(msg.account, msg.sender), limit, max(1, n))
        loop = asyncio.get_running_loop()
        while True:
            wait = await self.limiter.try_take(keys.cooldown(msg.account), [claim])
            if wait <= 0:
                return 0.0
            if wait > deadline - loop.time():
                return wait
            await asyncio.sleep(wait)

    async def on_accepted(self, account: str) -> None:
        """Grow the account's rate, at most every REFRESH seconds per process, but only while
        sends here wait for tokens: a rate nobody uses up proves nothing about the provider."""
        now = time.time()
        if now - self._grown.get(account, 0.0) < REFRESH:
            return
        if time.monotonic() - self._starved.get(account, -1e9) > 2 * REFRESH:
            return
        self._grown[account] = now
        cap = self.settings.providers[account].rate
        state = await self.rate(account)
        grown = accepted(state, now, cap or CEILING)
        if grown != state:
            await self._store(account, grown, now)

    async def on_limited(self, account: str) -> None:
        """A rate-limit answer: lower the account's rate for every worker."""
        self._reserve.pop(account, None)
        now = time.time()
        tenth = int(now * 10)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.learnt_rate(account))
        for t in range(tenth - 10 * MEASURED_SECONDS, tenth + 1):
            pipe.get(keys.accepted_in(account, t))
        raw, *found = await pipe.execute()
        state = Learnt.from_hash(cast(dict[str, str], raw), self.settings.providers[account].rate)
        # The provider's limit is at least the most it accepted in any recent one-second window
        # (the window just before this answer is the one that filled up).
        counts = [int(c or 0) for c in found]
        measured = max(sum(counts[i : i + 10]) for i in range(len(counts) - 9))
        lowered = limited(state, now, measured or None)
        if lowered != state:
            await self._store(account, lowered, now)

    async def _store(self, account: str, state: Learnt, now: float) -> None:
        mapping: Any = state.as_hash()  # redis-py's mapping type is invariant in its keys
        await self.redis.hset(keys.learnt_rate(account), mapping=mapping)
        await self.redis.expire(keys.learnt_rate(account), 7 * 24 * 3600)
        self._learnt[account] = (state, now)
