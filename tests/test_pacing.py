"""A learnt rate grows only while the bucket holds sends back, and never past its ceiling."""

from __future__ import annotations

import asyncio
import uuid

import redis
import redis.asyncio as aredis

from sms import keys
from sms.learning import CEILING, INITIAL, Learnt
from sms.settings import Settings
from tests.helpers import async_test
from worker.gate import BULK, TRANSACTIONAL, PriorityGate
from worker.pacing import Pacer


@async_test
async def test_a_rate_grows_only_after_the_bucket_refused_a_send(
    unit_url: str, r: redis.Redis
) -> None:
    account = f"learn{uuid.uuid4().hex[:8]}"
    settings = Settings(
        providers={account: {"kind": "carrierx", "token": "t", "base_url": "http://127.0.0.1:9"}}
    )

    async def run() -> None:
        client = aredis.Redis.from_url(unit_url, decode_responses=True)
        pacer = Pacer(settings, client)
        loop = asyncio.get_running_loop()
        assert await pacer.take(account, loop.time() + 5) == 0  # the first token is there
        await pacer.on_accepted(account)
        # Nothing waited for a token: nothing is learnt, however often the provider accepts.
        assert not await client.exists(keys.learnt_rate(account))
        assert await pacer.take(account, loop.time() + 5) == 0  # refused first, then granted
        pacer._grown.clear()  # the growth step is throttled per process; the test skips the wait
        await pacer.on_accepted(account)
        await asyncio.sleep(0.3)
        pacer._grown.clear()
        await pacer.on_accepted(account)
        await client.aclose()

    await run()
    learnt = Learnt.from_hash(r.hgetall(keys.learnt_rate(account)))
    assert INITIAL < learnt.rate < CEILING


def test_the_priority_gate_lets_transactional_waiters_in_first_and_says_when_idle() -> None:
    async def scenario() -> list[str]:
        gate = PriorityGate(1)
        assert gate.idle()
        await gate.acquire(BULK)
        assert not gate.idle()  # a place is held: the pacer's reserve is not for the taking
        order: list[str] = []

        async def wait(name: str, priority: int) -> None:
            await gate.acquire(priority)
            order.append(name)
            gate.release()

        names = (("bulk-1", BULK), ("reminder", TRANSACTIONAL), ("bulk-2", BULK))
        tasks = [asyncio.create_task(wait(n, p)) for n, p in names]
        await asyncio.sleep(0)
        assert not gate.idle()
        gate.release()
        await asyncio.gather(*tasks)
        assert gate.idle()
        return order

    assert asyncio.run(scenario()) == ["reminder", "bulk-1", "bulk-2"]
