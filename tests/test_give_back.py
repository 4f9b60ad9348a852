"""A worker process that holds more of an account's metered work than its share gives the rest
back to the account's ready queue, unclaimed, to be metered again for a worker with room
(worker/batch.py, sms/lua/give_back.lua). On a real server; no worker looks at this database.
"""

from __future__ import annotations

import asyncio
import uuid

import redis
import redis.asyncio as aredis

from sms import keys
from sms.message import Lane, Message, Status
from sms.settings import Settings
from sms.store import AsyncStore, MeterLimits, Store
from tests.helpers import async_test
from worker.batch import process_batch
from worker.gate import BULK
from worker.meter import worker_share
from worker.runtime import Runtime

UNLIMITED = MeterLimits(1e6, 1e6, 1.0, 0.0, 100_000, 1000)


def metered(r: redis.Redis, account: str, n: int) -> list[str]:
    """`n` bulk messages of `account`, enqueued and metered: in its `out` set, unclaimed."""
    store = Store(r, retention=3600)
    messages = [
        Message(account=account, to=f"+1415555{i:04d}", sender="+14155550100", body="hi")
        for i in range(n)
    ]
    store.enqueue_many(messages, [None] * n)
    found = store.meter(account, UNLIMITED)
    assert sorted(found.bulk) == sorted(m.id for m in messages)
    return found.bulk


@async_test
async def test_unclaimed_ids_go_back_due_when_they_were_metered(
    r: redis.Redis, unit_url: str
) -> None:
    account = f"acct{uuid.uuid4().hex[:8]}"
    ids = metered(r, account, 3)
    when = {mid: r.zscore(keys.out(account), mid) for mid in ids}
    client = aredis.Redis.from_url(unit_url, decode_responses=True)
    try:
        store = AsyncStore(client, retention=3600)
        claimed = await store.claim_many(ids[:1], account, "owner", 60.0)
        assert claimed[0].status == "claimed"
        # The claimed one is another worker's now: it stays where the claim put it.
        assert await store.give_back(account, Lane.BULK.value, ids) == 2
    finally:
        await client.aclose()
    assert r.zcard(keys.out(account)) == 0
    ready = dict(r.zrange(keys.ready(account, Lane.BULK.value), 0, -1, withscores=True))
    assert ready == {mid: when[mid] for mid in ids[1:]}
    assert [r.hget(keys.message(mid), "status") for mid in ids] == [
        Status.SENDING.value,
        Status.QUEUED.value,
        Status.QUEUED.value,
    ]
    # Metered again, they are taken like any other due message.
    assert sorted(Store(r, retention=3600).meter(account, UNLIMITED).bulk) == sorted(ids[1:])


def test_a_process_holding_its_share_gives_a_new_bulk_batch_back(
    r: redis.Redis, unit_url: str
) -> None:
    account = f"acct{uuid.uuid4().hex[:8]}"
    provider = {"kind": "carrierx", "token": "t", "base_url": "http://127.0.0.1:9"}
    settings = Settings(providers={account: {**provider, "max_in_flight": 1}})
    share = worker_share(settings.providers[account])
    ids = metered(r, account, 5)
    rt = Runtime(settings, unit_url)
    try:

        async def full_then_batch() -> dict[str, int]:
            # The process's one place to prepare a send is taken and `share` sends wait for
            # it: it holds all it should of this account's work.
            gate = rt.preparing(account)
            await gate.acquire(BULK)
            waiting = [asyncio.ensure_future(gate.acquire(BULK)) for _ in range(share)]
            await asyncio.sleep(0)
            assert gate.waiting() == share
            result = await process_batch(rt, account, Lane.BULK.value, ids)
            for w in waiting:
                w.cancel()
            return dict(result.statuses)

        assert rt.run(full_then_batch()) == {"given back": 5}
    finally:
        rt.close()
    assert r.zcard(keys.out(account)) == 0
    assert r.zcard(keys.ready(account, Lane.BULK.value)) == 5
    assert {r.hget(keys.message(mid), "status") for mid in ids} == {Status.QUEUED.value}
