"""Metering (sms/lua/meter.lua) on a real server: what it takes from an account's ready queues,
in what order, how much, and what it sorts out on the way. No worker looks at this database."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import redis

from sms import keys
from sms.message import Lane, Message, Status
from sms.store import MeterLimits, Store

RETENTION = 3600
UNLIMITED = MeterLimits(1e6, 1e6, 1.0, 0.0, 100_000, 1000)


def account() -> str:
    """A fresh account name: each test meters its own queues."""
    return f"acct{uuid.uuid4().hex[:8]}"


def messages(acct: str, n: int, lane: Lane = Lane.BULK, **fields: object) -> list[Message]:
    return [
        Message.model_validate(
            {
                "account": acct,
                "to": f"+1415555{i:04d}",
                "from": "+14155550100",
                "body": "hello",
                "lane": lane,
                **fields,
            }
        )
        for i in range(n)
    ]


def enqueue(r: redis.Redis, ms: list[Message], due: float | None = None) -> Store:
    store = Store(r, retention=RETENTION)
    store.enqueue_many(ms, [due] * len(ms))
    return store


def test_racing_meters_never_take_one_id_twice(r: redis.Redis) -> None:
    acct = account()
    ms = messages(acct, 3000)
    store = enqueue(r, ms)
    taken: list[str] = []
    lock = threading.Lock()

    def meter() -> None:
        mine = Store(redis.Redis(connection_pool=r.connection_pool), retention=RETENTION)
        for _ in range(20):
            got = mine.meter(acct, UNLIMITED)
            with lock:
                taken.extend(got.bulk)

    threads = [threading.Thread(target=meter) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(m.id for m in ms)
    assert r.zcard(keys.ready(acct, "bulk")) == 0
    assert r.zcard(keys.out(acct)) == 3000
    assert store.meter(acct, UNLIMITED).bulk == []


def test_it_takes_no_more_than_the_rate_allows_over_its_horizon(r: redis.Redis) -> None:
    acct = account()
    store = enqueue(r, messages(acct, 50))
    limits = MeterLimits(rate=5.0, burst=5.0, horizon=1.0, transactional_share=0.0, max_out=1000,
                         max_take=1000)  # fmt: skip
    first = store.meter(acct, limits)
    assert len(first.bulk) == 10  # a full bucket (5) and one second of rate (5)
    assert store.meter(acct, limits).bulk == []  # all of it is still on its way (`out`)
    r.zrem(keys.out(acct), *first.bulk)  # claimed by workers
    assert len(store.meter(acct, limits).bulk) == 10


def test_transactional_messages_go_first_and_may_keep_a_share_of_the_rate(
    r: redis.Redis,
) -> None:
    acct = account()
    bulk = messages(acct, 20)
    reminders = messages(acct, 3, Lane.TRANSACTIONAL)
    store = enqueue(r, bulk)
    enqueue(r, reminders)
    limits = MeterLimits(rate=5.0, burst=5.0, horizon=1.0, transactional_share=0.5, max_out=1000,
                         max_take=1000)  # fmt: skip
    got = store.meter(acct, limits)
    assert sorted(got.transactional) == sorted(m.id for m in reminders)
    assert len(got.bulk) == 5  # bulk may use half of the 10 the rate allows, whatever waits


def test_messages_not_due_yet_wait(r: redis.Redis) -> None:
    acct = account()
    store = enqueue(r, messages(acct, 5), due=time.time() + 3600)
    assert store.meter(acct, UNLIMITED).bulk == []
    assert r.zcard(keys.ready(acct, "bulk")) == 5


def test_a_cooling_account_is_skipped_whole(r: redis.Redis) -> None:
    acct = account()
    store = enqueue(r, messages(acct, 5))
    r.set(keys.cooldown(acct), "rate limited", px=5000)
    got = store.meter(acct, UNLIMITED)
    assert (got.bulk, 0 < got.cooldown <= 5) == ([], True)
    assert r.zcard(keys.ready(acct, "bulk")) == 5


def test_a_held_sender_waits_while_the_accounts_other_senders_go(r: redis.Redis) -> None:
    acct = account()
    held = messages(acct, 3)
    good = [m.model_copy(update={"sender": "+14155550111"}) for m in messages(acct, 3)]
    store = enqueue(r, held + good)
    r.set(keys.sender_hold(acct, "+14155550100"), "sender not found", px=60_000)
    got = store.meter(acct, UNLIMITED)
    assert sorted(got.bulk) == sorted(m.id for m in good)
    for m in held:  # due again when the hold ends
        due = r.zscore(keys.ready(acct, "bulk"), m.id)
        assert due is not None and due > time.time() + 50


def test_paused_campaigns_are_set_aside_and_cancelled_or_expired_ones_answered_apart(
    r: redis.Redis,
) -> None:
    acct = account()
    paused, cancelled = uuid.uuid4().hex, uuid.uuid4().hex
    a = messages(acct, 2, campaign=paused)
    b = messages(acct, 2, campaign=cancelled)
    past = datetime.now(UTC) - timedelta(seconds=1)
    c = messages(acct, 1, expires_at=past)
    store = enqueue(r, a + b + c)
    r.hset(keys.campaign(paused), "state", "paused")
    r.hset(keys.campaign(cancelled), "state", "cancelled")
    got = store.meter(acct, UNLIMITED)
    assert got.bulk == []
    assert r.smembers(keys.campaign_paused(paused)) == {m.id for m in a}
    assert sorted(got.cancelled) == sorted((m.id, cancelled) for m in b)
    assert got.expired == [(c[0].id, None)]
    assert r.zcard(keys.ready(acct, "bulk")) == 0


def test_an_id_no_longer_queued_is_dropped_from_its_ready_queue(r: redis.Redis) -> None:
    acct = account()
    (m,) = messages(acct, 1)
    store = enqueue(r, [m])
    r.hset(keys.message(m.id), "status", Status.SENT.value)
    assert store.meter(acct, UNLIMITED).bulk == []
    assert r.zscore(keys.ready(acct, "bulk"), m.id) is None


def test_while_the_workers_have_plenty_in_hand_bulk_waits_for_a_batchs_worth(
    r: redis.Redis,
) -> None:
    acct = account()
    store = enqueue(r, messages(acct, 10))
    reminder = messages(acct, 1, Lane.TRANSACTIONAL)
    enqueue(r, reminder)
    r.zadd(keys.out(acct), {f"in-hand-{i}": 1.0 for i in range(80)})  # 80 of 100 out
    limits = MeterLimits(1e6, 1e6, 1.0, 0.0, max_out=100, max_take=1000, min_bulk=25)
    got = store.meter(acct, limits)
    assert (got.transactional, got.bulk) == ([reminder[0].id], [])  # a reminder never waits
    r.delete(keys.out(acct))  # the workers took what they had: bulk goes again
    assert len(store.meter(acct, limits).bulk) == 10


def test_accounts_metered_together_are_each_metered_on_their_own_terms(r: redis.Redis) -> None:
    first, second, idle = account(), account(), account()
    store = enqueue(r, messages(first, 30) + messages(second, 5))
    slow = MeterLimits(10, 10, 1.0, 0.0, 100_000, 1000)
    got = store.meter_many([(first, slow), (second, UNLIMITED), (idle, UNLIMITED)])
    assert [len(m.bulk) for m in got] == [20, 5, 0]  # burst 10 plus a second of 10/s
    r.script_flush()  # a restarted server has no scripts: each call loads its own again
    more = store.meter_many([(first, UNLIMITED), (second, UNLIMITED)])
    assert [len(m.bulk) for m in more] == [10, 0]
