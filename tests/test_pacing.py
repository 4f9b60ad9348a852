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
