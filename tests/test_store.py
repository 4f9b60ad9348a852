"""Records, idempotency keys and claims, against the real embedded server."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
import redis
import redis.asyncio as aredis

from sms import keys
from sms.message import Message, Status
from sms.store import (
    SEP,
    Admission,
    AsyncStore,
    Enqueued,
    Move,
    Store,
    enqueue_args,
    enqueue_items,
)
from tests.helpers import async_test

RETENTION = 3600
T = TypeVar("T")


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
    assert store.enqueue_many([m], [None]) == [Enqueued(m.id, Admission.NEW)]
    record = store.get(m.id)
    assert record.status is Status.QUEUED
    assert record.message == m
    assert [h.status for h in record.history] == ["queued"]


def test_the_same_key_twice_returns_the_first_id(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    key = uuid.uuid4().hex
    first, second = message(idempotency_key=key), message(idempotency_key=key)
    assert store.enqueue_many([first], [None]) == [Enqueued(first.id, Admission.NEW)]
    assert store.enqueue_many([second], [None]) == [Enqueued(first.id, Admission.REPEAT)]
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
    assert sum(result.created for result in results) == 1
    assert len({result.id for result in results}) == 1


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


async def _claim(url: str, mid: str, owner: str) -> str:
    client = aredis.Redis.from_url(url, decode_responses=True)
    try:
        store = AsyncStore(client, retention=RETENTION)
        return (await store.claim_many([mid], "textingline", owner, 60.0))[0].status
    finally:
        await client.aclose()


def _claim_in_process(url: str, mid: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    owner = uuid.uuid4().hex
    out.put(asyncio.run(_claim(url, mid, owner)))


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


@async_test
async def test_a_claim_retried_by_its_owner_is_still_its_own(unit_url: str, r: redis.Redis) -> None:
    m = message()
    Store(r, retention=RETENTION).enqueue_many([m], [None])
    assert (await _claim(unit_url, m.id, "owner-a")) == "claimed"
    # redis-py resends a command whose reply was lost: the owner must hear "claimed" again.
    assert (await _claim(unit_url, m.id, "owner-a")) == "claimed"
    assert (await _claim(unit_url, m.id, "owner-b")) == "sending"


@async_test
async def test_only_the_owner_can_record_the_outcome(unit_url: str, r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    m = message()
    store.enqueue_many([m], [None])
    await _claim(unit_url, m.id, "owner-a")
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


# ----- one script call for many entries: each entry on its own terms --------------------------


def _with_store(url: str, work: Callable[[AsyncStore], Awaitable[T]]) -> T:
    """Run `work` with a worker's store on its own loop and client."""

    async def run() -> T:
        client = aredis.Redis.from_url(url, decode_responses=True)
        try:
            return await work(AsyncStore(client, retention=RETENTION))
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_one_enqueue_call_with_a_key_twice_writes_the_first_message_only(r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    key = uuid.uuid4().hex
    first, second, other = message(idempotency_key=key), message(idempotency_key=key), message()
    assert store.enqueue_many([first, second, other], [None, None, None]) == [
        Enqueued(first.id, Admission.NEW),
        Enqueued(first.id, Admission.REPEAT),
        Enqueued(other.id, Admission.NEW),
    ]
    assert not r.exists(keys.message(second.id))


def test_one_enqueue_call_groups_messages_alike_and_keeps_each_ones_fields(
    r: redis.Redis,
) -> None:
    """enqueue.lua takes what messages share once per run of them (sms.store.enqueue_args) and
    each one's own fields joined: runs of different accounts, campaigns, times and callbacks
    in one call, an id holding the separator, a row and a line, all read back as written."""
    store = Store(r, retention=RETENTION)
    camp = f"c{uuid.uuid4().hex[:8]}"
    expires = datetime(2030, 1, 2, tzinfo=UTC)
    ms = [
        message(campaign=camp, idempotency_key=f"{camp}:1"),
        message(campaign=camp, idempotency_key=f"{camp}:2", to="+14155551235"),
        message(account="justcall", expires_at=expires),
        message(id=f"odd{SEP}id{SEP}", campaign=camp, idempotency_key=f"{camp}:3"),
        message(campaign=camp, idempotency_key=f"{camp}:1"),  # a repeat, in the same call
    ]
    entries = enqueue_items(
        ms,
        [None, 1e12, None, None, None],
        [2, 3, None, 5, 6],
        ['["a"]', '["b"]', None, '["c"]', '["d"]'],
    )
    args = enqueue_args(entries)
    assert args[1:3] == ["2", ms[0].account]  # the first two share one head
    answers = store.enqueue_entries(entries)
    assert [a.admission for a in answers] == [Admission.NEW] * 4 + [Admission.REPEAT]
    assert answers[4].id == ms[0].id
    for m, row in zip(ms[:4], ['["a"]', '["b"]', "", '["c"]'], strict=True):
        record = store.get(m.id)
        assert record.message == m and record.status is Status.QUEUED and record.row == row
    assert r.hget(keys.message(ms[2].id), "expires") == repr(expires.timestamp())
    assert r.hget(keys.message(ms[0].id), "expires") is None  # none: nothing written
    assert r.zscore(keys.ready("textingline", "bulk"), ms[1].id) == 1e12
    assert r.zrange(keys.campaign_rows(camp), 0, -1, withscores=True) == [
        (ms[0].id, 2.0),
        (ms[1].id, 3.0),
        (ms[3].id, 5.0),
    ]
    assert r.hget(keys.campaign_counts(camp), "queued") == "3"


def test_an_enqueue_asked_to_leaves_out_numbers_on_its_opt_out_hash(r: redis.Redis) -> None:
    """With an opt-out hash for a group, enqueue.lua answers each message to a number on it
    SUPPRESSED and writes nothing of it (no record, no key taken); the other groups' and the
    other numbers' messages are written."""
    store = Store(r, retention=RETENTION)
    camp = f"c{uuid.uuid4().hex[:8]}"
    hash_key = f"test:optouts:{camp}"
    r.hset(hash_key, "+14155551235", "opted out")
    ms = [
        message(campaign=camp, idempotency_key=f"{camp}:1"),
        message(campaign=camp, idempotency_key=f"{camp}:2", to="+14155551235"),
        message(account="justcall", to="+14155551235"),  # its group checks no hash
    ]

    def optouts(account: str, lane: str) -> str:
        return hash_key if account == "textingline" else ""

    entries = enqueue_items(ms, [None] * 3, optouts=optouts)
    answers = store.enqueue_entries(entries)
    assert answers == [
        Enqueued(ms[0].id, Admission.NEW),
        Enqueued(ms[1].id, Admission.SUPPRESSED),
        Enqueued(ms[2].id, Admission.NEW),
    ]
    assert not r.exists(keys.message(ms[1].id))
    assert not r.exists(keys.idempotency(f"{camp}:2"))
    assert r.hget(keys.campaign_counts(camp), "total") == "1"
    # The first number opts out after its message was enqueued: the same message again is a
    # repeat of that one (the worker checks the list before sending it), not a suppressed row.
    r.hset(hash_key, ms[0].to, "opted out since")
    again = store.enqueue_entries(enqueue_items(ms[:1], [None], optouts=optouts))
    assert again == [Enqueued(ms[0].id, Admission.REPEAT)]


def test_an_idempotency_key_holding_the_separator_is_refused_before_the_call() -> None:
    m = Message.model_construct(**message(idempotency_key="k").__dict__)
    bad = m.model_copy(update={"idempotency_key": f"a{SEP}b"})
    with pytest.raises(ValueError, match="control character"):
        enqueue_items([bad], [None])


def test_one_claim_call_answers_each_message_for_itself(unit_url: str, r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    campaign = uuid.uuid4().hex
    queued, sent = message(campaign=campaign), message(campaign=campaign, to="+14155551235")
    store.enqueue_many([queued, sent], [None, None])
    assert store.move(Move(sent.id, "textingline", campaign, Status.QUEUED, Status.SENT, "test"))
    ids = [queued.id, sent.id, "no-such-id"]
    answers = _with_store(unit_url, lambda s: s.claim_many(ids, "textingline", "owner-a", 60.0))
    assert answers[0].status == "claimed"
    assert answers[0].message == queued  # the claim reads the record in the same step
    assert [a.status for a in answers[1:]] == ["sent", "missing"]
    assert r.hgetall(keys.campaign_counts(campaign)) == {
        "queued": "0",
        "total": "2",
        "sent": "1",
        "sending": "1",
    }
    assert r.zscore(keys.LEASES, queued.id) is not None
    assert r.zscore(keys.LEASES, sent.id) is None


def test_one_move_call_moves_only_the_records_that_are_where_it_expects(
    unit_url: str, r: redis.Redis
) -> None:
    store = Store(r, retention=RETENTION)
    campaign = uuid.uuid4().hex
    a, b = message(campaign=campaign), message(campaign=campaign, to="+14155551235")
    store.enqueue_many([a, b], [None, None])
    moves = [
        Move(a.id, "textingline", campaign, Status.QUEUED, Status.CANCELLED, "test"),
        Move(b.id, "textingline", campaign, Status.SENDING, Status.SENT, "test", owner="x"),
    ]
    assert _with_store(unit_url, lambda s: s.move_many(moves)) == [True, False]
    assert store.get(a.id).status is Status.CANCELLED
    assert store.get(b.id).status is Status.QUEUED
    assert r.hgetall(keys.campaign_counts(campaign)) == {
        "queued": "1",
        "total": "2",
        "cancelled": "1",
    }


def test_two_moves_of_one_message_in_one_call_apply_in_order(unit_url: str, r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    m = message()
    store.enqueue_many([m], [None])
    moves = [
        Move(
            m.id, "textingline", None, Status.QUEUED, Status.QUEUED, "wait", due=1e12, lane="bulk"
        ),
        Move(m.id, "textingline", None, Status.QUEUED, Status.UNKNOWN, "test", lane="bulk"),
        Move(m.id, "textingline", None, Status.UNKNOWN, Status.FAILED, "test"),
    ]
    assert _with_store(unit_url, lambda s: s.move_many(moves)) == [True, True, True]
    record = store.get(m.id)
    assert record.status is Status.FAILED
    assert [h.status for h in record.history] == ["queued", "queued", "unknown", "failed"]
    # Back in its ready queue by the first move, out of it by the second: the last change wins.
    assert r.zscore(keys.ready("textingline", "bulk"), m.id) is None
    assert r.zscore(keys.UNKNOWN, m.id) is None  # in, then out again


def test_scripts_the_server_lost_are_loaded_again(unit_url: str, r: redis.Redis) -> None:
    store = Store(r, retention=RETENTION)
    m = message()
    store.enqueue_many([m], [None])
    r.script_flush()  # as after a restart without AOF, or an operator's SCRIPT FLUSH
    answers = _with_store(unit_url, lambda s: s.claim_many([m.id], m.account, "o", 60.0))
    assert answers[0].status == "claimed"
    done = Move(m.id, m.account, None, Status.SENDING, Status.SENT, "test", owner="o")
    r.script_flush()
    assert _with_store(unit_url, lambda s: s.move_many([done])) == [True]


def test_a_claim_sets_a_paused_campaigns_message_aside_and_answers_a_cancelled_one(
    unit_url: str, r: redis.Redis
) -> None:
    campaign = uuid.uuid4().hex
    m = message(campaign=campaign)
    Store(r, retention=RETENTION).enqueue_many([m], [None])
    r.zadd(keys.out("textingline"), {m.id: 1.0})  # metered before the campaign was paused
    r.hset(keys.campaign(campaign), "state", "paused")
    claim = lambda s: s.claim_many([m.id], "textingline", "o", 60.0)  # noqa: E731
    assert [c.status for c in _with_store(unit_url, claim)] == ["paused"]
    assert r.smembers(keys.campaign_paused(campaign)) == {m.id}
    assert r.zscore(keys.out("textingline"), m.id) is None
    assert Store(r, retention=RETENTION).get(m.id).status is Status.QUEUED
    r.hset(keys.campaign(campaign), "state", "cancelled")
    (answer,) = _with_store(unit_url, claim)
    assert (answer.status, answer.campaign) == ("cancelled", campaign)  # the caller ends it
