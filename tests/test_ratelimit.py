"""Token buckets: the Python model, the Lua script against real Redis, and racing callers."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid

import pytest
import redis
import redis.asyncio as aredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sms.ratelimit import Claim, Limit, RateLimiter, TokenBucket
from tests.helpers import async_test

limits = st.builds(
    Limit,
    rate=st.floats(min_value=0.5, max_value=500, allow_nan=False),
    burst=st.floats(min_value=1, max_value=50, allow_nan=False),
)
steps = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=2, allow_nan=False), st.sampled_from([1.0, 1.0, 2.0, 3.0])
    ),
    min_size=1,
    max_size=60,
)


def assert_window_bound(grants: list[tuple[float, float]], limit: Limit) -> None:
    """In every window [a, b], granted tokens <= burst + rate * (b - a)."""
    grants = sorted(grants)
    for i, (start, _) in enumerate(grants):
        total = 0.0
        for at, n in grants[i:]:
            total += n
            assert total <= limit.burst + limit.rate * (at - start) + 1e-6


@given(limit=limits, steps=steps)
def test_the_model_never_grants_more_than_burst_plus_rate_times_window(
    limit: Limit, steps: list[tuple[float, float]]
) -> None:
    bucket = TokenBucket(limit)
    now, grants = 1000.0, []
    for dt, n in steps:
        now += dt
        if bucket.take(now, min(n, limit.burst)) == 0:
            grants.append((now, min(n, limit.burst)))
    assert_window_bound(grants, limit)


@given(limit=limits, steps=steps)
def test_a_refusal_changes_nothing_in_the_model(
    limit: Limit, steps: list[tuple[float, float]]
) -> None:
    bucket = TokenBucket(limit)
    now = 1000.0
    for dt, n in steps:
        now += dt
        before = (bucket.tokens, bucket.ts)
        wait = bucket.take(now, min(n, limit.burst))
        if wait > 0:
            assert (bucket.tokens, bucket.ts) == before
            # ... and waiting exactly that long is enough.
            probe = TokenBucket(limit, bucket.tokens, bucket.ts)
            assert probe.take(now + wait + 1e-9, min(n, limit.burst)) == 0


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=limits, wants=st.lists(st.sampled_from([1.0, 1.0, 2.0, 5.0]), min_size=1, max_size=40))
@async_test
async def test_the_script_decides_exactly_as_the_model(
    unit_url: str, limit: Limit, wants: list[float]
) -> None:
    async def run() -> None:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        limiter = RateLimiter(client)
        key, cool = f"test:bucket:{uuid.uuid4().hex}", f"test:cool:{uuid.uuid4().hex}"
        model = TokenBucket(limit)
        for n in wants:
            wait, now = await limiter.decide(cool, [Claim(key, limit, n)])
            expected = model.take(now, min(n, limit.burst))
            assert wait == pytest.approx(expected, rel=1e-9, abs=1e-9)
            if wait > 0:
                assert now > 0  # a refusal still reports the time it was decided at
        await client.aclose()

    await run()


@async_test
async def test_a_refusal_writes_nothing(r: redis.Redis, unit_url: str) -> None:
    async def run() -> None:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        limiter = RateLimiter(client)
        key = f"test:bucket:{uuid.uuid4().hex}"
        limit = Limit(rate=0.01, burst=1)
        assert await limiter.try_take("test:cool:none", [Claim(key, limit)]) == 0
        before = (r.hgetall(key), r.pttl(key))
        assert await limiter.try_take("test:cool:none", [Claim(key, limit)]) > 50
        after = (r.hgetall(key), r.pttl(key))
        assert after[0] == before[0]
        assert after[1] <= before[1]  # the TTL was not renewed
        await client.aclose()

    await run()


@async_test
async def test_every_write_sets_a_ttl(r: redis.Redis, unit_url: str) -> None:
    key = f"test:bucket:{uuid.uuid4().hex}"

    async def run() -> None:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        await RateLimiter(client).try_take("test:cool:none", [Claim(key, Limit(rate=10, burst=5))])
        await client.aclose()

    await run()
    # The time to refill the whole bucket (0.5 s) plus a second.
    assert 1000 < r.pttl(key) <= 1500


@async_test
async def test_both_buckets_or_neither(r: redis.Redis, unit_url: str) -> None:
    async def run() -> None:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        limiter = RateLimiter(client)
        account, sender = f"test:a:{uuid.uuid4().hex}", f"test:s:{uuid.uuid4().hex}"
        roomy, tight = Limit(rate=100, burst=100), Limit(rate=0.01, burst=1)
        claims = [Claim(account, roomy), Claim(sender, tight)]
        assert await limiter.try_take("test:cool:none", claims) == 0
        assert await limiter.try_take("test:cool:none", claims) > 0
        assert float(r.hget(account, "tokens") or 0) == pytest.approx(99, abs=0.5)
        await client.aclose()

    await run()


@async_test
async def test_nothing_is_granted_while_the_account_cools_down(
    r: redis.Redis, unit_url: str
) -> None:
    cool = f"test:cool:{uuid.uuid4().hex}"
    r.set(cool, "rate limited", px=2000)

    async def run() -> float:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        wait = await RateLimiter(client).try_take(
            cool, [Claim(f"test:b:{uuid.uuid4().hex}", Limit(10, 10))]
        )
        await client.aclose()
        return wait

    assert 1.0 < (await run()) <= 2.0


@async_test
async def test_the_script_is_loaded_again_after_a_flush(r: redis.Redis, unit_url: str) -> None:
    async def run() -> None:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        limiter = RateLimiter(client)
        key = f"test:bucket:{uuid.uuid4().hex}"
        assert await limiter.try_take("test:cool:none", [Claim(key, Limit(10, 10))]) == 0
        await client.script_flush()  # what a restarted server forgets
        assert await limiter.try_take("test:cool:none", [Claim(key, Limit(10, 10))]) == 0
        await client.aclose()

    await run()


def _hammer(url: str, key: str, limit: Limit, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    async def run() -> list[tuple[float, float]]:
        client = aredis.Redis.from_url(url, decode_responses=True)
        limiter = RateLimiter(client)
        grants = []
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            wait, now = await limiter.decide("test:cool:none", [Claim(key, limit)])
            if wait == 0:
                grants.append((now, 1.0))
        await client.aclose()
        return grants

    out.put(asyncio.run(run()))


def test_racing_callers_in_several_processes_keep_the_bound(unit_url: str) -> None:
    limit = Limit(rate=50, burst=10)
    key = f"test:bucket:{uuid.uuid4().hex}"
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [
        multiprocessing.Process(target=_hammer, args=(unit_url, key, limit, 1.5, out))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    grants = [g for _ in procs for g in out.get(timeout=30)]
    for p in procs:
        p.join()
    assert_window_bound(grants, limit)
    # ... and the bucket is not starved either: about burst + rate * 1.5 s were granted.
    assert len(grants) >= 0.9 * (limit.burst + limit.rate * 1.5)
