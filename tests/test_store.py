"""Records, idempotency keys and claims, against the real embedded server."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid

import redis
import redis.asyncio as aredis

from sms import keys
from sms.message import Message, Status
from sms.store import AsyncStore, Move, Store

RETENTION = 3600


def message(**kw: object) -> Message:
    fields: dict[str, object] = {
        "account": "textingline",
        "to": "+14155551234",
        "sender": "+14155550100",
        "body": "hi",
    }
    fields.update(kw)
    return Message.model_validate(fields)


def test_an_enqueued_message_is_recorded_as_queued(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    m = message()
    assert store.enqueue_many([m], [None]) == [(m.id, True)]
    record = store.get(m.id)
    assert record.status is Status.QUEUED
    assert record.message == m
    assert [h.status for h in record.history] == ["queued"]


def test_the_same_key_twice_returns_the_first_id(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    key = uuid.uuid4().hex
    first, second = message(idempotency_key=key), message(idempotency_key=key)
    assert store.enqueue_many([first], [None]) == [(first.id, True)]
    assert store.enqueue_many([second], [None]) == [(first.id, False)]
    assert not r.exists(keys.message(second.id))


def test_a_key_lives_while_its_message_waits_and_retention_after_it_ends(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    key = uuid.uuid4().hex
    m = message(idempotency_key=key)
    store.enqueue_many([m], [None])
    assert r.ttl(keys.idempotency(key)) == -1  # however long it waits (scheduled, unknown)
    end = Move(m.id, m.account, None, Status.QUEUED, Status.CANCELLED, "test", idempotency_key=key)
    assert store.move(end)
    assert RETENTION - 10 < r.ttl(keys.idempotency(key)) <= RETENTION


def _enqueue_same_key(url: str, key: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    store = Store(redis.Redis.from_url(url, decode_responses=True), retention=RETENTION)
    m = message(idempotency_key=key)
    out.put(store.enqueue_many([m], [None])[0])


def test_fifty_racing_producers_create_one_message(unit_url: str, r: redis.Redis) -> None:
    key = uuid.uuid4().hex
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [
        multiprocessing.Process(target=_enqueue_same_key, args=(unit_url, key, out))
        for _ in range(50)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join()
    assert sum(created for _, created in results) == 1
    assert len({mid for mid, _ in results}) == 1


def test_a_campaign_counts_its_messages_by_status(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    campaign = uuid.uuid4().hex
    ms = [message(campaign=campaign, to=f"+1415555{i:04d}") for i in range(3)]
    store.enqueue_many(ms, [None] * 3)
    assert r.hgetall(keys.campaign_counts(campaign)) == {"queued": "3", "total": "3"}
    store.move(Move(ms[0].id, "textingline", campaign, Status.QUEUED, Status.CANCELLED, "test"))
    assert r.hgetall(keys.campaign_counts(campaign)) == {
        "queued": "2",
        "total": "3",
        "cancelled": "1",
    }


async def _claim(url: str, mid: str, owner: str) -> list[object]:
    client = aredis.Redis.from_url(url, decode_responses=True)
    try:
        store = AsyncStore(client, retention=RETENTION)
        return (await store.claim_many([(mid, "textingline", None)], owner, 60.0))[0]
    finally:
        await client.aclose()


def _claim_in_process(url: str, mid: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    owner = uuid.uuid4().hex
    out.put(asyncio.run(_claim(url, mid, owner))[0])


def test_only_one_of_many_racing_claimers_wins(unit_url: str, r: redis.Redis) -> None:
    m = message()
    Store(r, retention=RETENTION).enqueue_many([m], [None])
    out: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [
        multiprocessing.Process(target=_claim_in_process, args=(unit_url, m.id, out))
        for _ in range(20)
    ]
    for p in procs:
        p.start()
    answers = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join()
    assert answers.count("claimed") == 1
    assert answers.count("sending") == 19


def test_a_claim_retried_by_its_owner_is_still_its_own(unit_url: str, r: redis.Redis) -> None:
    m = message()
    Store(r, retention=RETENTION).enqueue_many([m], [None])
    assert asyncio.run(_claim(unit_url, m.id, "owner-a"))[0] == "claimed"
    # redis-py resends a command whose reply was lost: the owner must hear "claimed" again.
    assert asyncio.run(_claim(unit_url, m.id, "owner-a"))[0] == "claimed"
    assert asyncio.run(_claim(unit_url, m.id, "owner-b")) == ["sending"]


def test_only_the_owner_can_record_the_outcome(unit_url: str, r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    m = message()
    store.enqueue_many([m], [None])
    asyncio.run(_claim(unit_url, m.id, "owner-a"))
    assert r.zscore(keys.LEASES, m.id) is not None
    stranger = Move(
        m.id, m.account, None, Status.SENDING, Status.SENT, owner="owner-b", provider_id="p1"
    )
    assert not store.move(stranger)
    owner = Move(
        m.id,
        m.account,
        None,
        Status.SENDING,
        Status.SENT,
        owner="owner-a",
        provider_id="p1",
        count_attempt=True,
    )
    assert store.move(owner)
    record = store.get(m.id)
    assert (record.status, record.provider_id, record.attempts) == (Status.SENT, "p1", 1)
    assert r.zscore(keys.LEASES, m.id) is None
    assert r.get(keys.provider_ref(m.account, "p1")) == m.id
    assert 0 < r.ttl(keys.message(m.id)) <= RETENTION
    assert [h.status for h in record.history] == ["queued", "sending", "sent"]


def test_due_ids_are_taken_once(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    m = message()
    store.enqueue_many([m], [1.0])  # due long ago
    taken = store.take_due(10_000)
    assert m.id in taken
    assert m.id not in store.take_due(10_000)
