"""`salvo status` with no id: every account's limits, cooldown and counters, and what waits.

`overview` reads it all in one round trip and returns plain JSON-safe data; `render` draws it
as two tables (limits, counters).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, cast

import redis
from rich.console import Group
from rich.table import Table
from rich.text import Text

from sms import holds, keys
from sms.learning import INITIAL, Learnt
from sms.message import Lane
from sms.plural import counted
from sms.settings import Settings

#: Counters of keys.stats(account) shown per account, in order (see sms/metrics.py).
COUNTERS = (
    "outcome:accepted",
    "outcome:rate_limited",
    "status:sent",
    "status:failed",
    "status:unknown",
    "retries",
)
ALIVE = 30.0  # seconds since its last heartbeat within which a worker counts as alive


def overview(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    """Accounts (configured or ever sent through), their holds and the work waiting for each,
    as plain data."""
    names = sorted(set(settings.providers) | cast(set[str], client.smembers(keys.ACCOUNTS)))
    lanes = [lane.value for lane in Lane]
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.llen(Lane.TRANSACTIONAL.value)
    pipe.llen(Lane.BULK.value)
    pipe.zcount(keys.WORKERS, now - ALIVE, "+inf")
    pipe.time()
    for name in names:
        pipe.hgetall(keys.learnt_rate(name))
        pipe.get(keys.cooldown(name))
        pipe.pttl(keys.cooldown(name))
        pipe.hmget(keys.stats(name), *COUNTERS)
        for lane in lanes:
            pipe.zcount(keys.ready(name, lane), "-inf", now)
            pipe.zcard(keys.ready(name, lane))
        pipe.zcard(keys.out(name))
    transactional, bulk, workers, server_time, *rest = pipe.execute()
    clock = holds.clock(server_time)  # the clock the holds' TTLs count on
    per = 5 + 2 * len(lanes)
    accounts: dict[str, Any] = {}
    totals = {"due": 0, "later": 0, "metered": 0}
    for i, name in enumerate(names):
        learnt_raw, reason, pttl, counts, *queues = rest[per * i : per * (i + 1)]
        account = settings.providers.get(name)
        cooling = holds.found(name, None, reason, int(pttl), clock)
        learnt = Learnt.from_hash(learnt_raw) if learnt_raw else None
        waiting: dict[str, Any] = {
            lane: {"due": int(queues[2 * j]), "later": int(queues[2 * j + 1] - queues[2 * j])}
            for j, lane in enumerate(lanes)
        }
        waiting["metered"] = int(queues[-1])
        for lane in lanes:
            totals["due"] += waiting[lane]["due"]
            totals["later"] += waiting[lane]["later"]
        totals["metered"] += waiting["metered"]
        accounts[name] = {
            "kind": account.kind if account else None,
            "configured": account is not None,
            "rate": account.rate if account else None,
            "burst": account.burst if account else None,
            "learnt_rate": learnt.rate if learnt else None,
            "ceiling": learnt.ceiling if learnt else None,
            "cooldown": None if cooling is None else cooling.as_dict(clock),
            "holds": [h.as_dict(clock) for h in sender_holds(client, name, clock)],
            "waiting": waiting,
            "counters": {f: int(v or 0) for f, v in zip(COUNTERS, counts, strict=True)},
        }
    return {
        "waiting": {
            **totals,
            "tasks": {Lane.TRANSACTIONAL.value: int(transactional), Lane.BULK.value: int(bulk)},
        },
        "workers": int(workers),
        "accounts": accounts,
    }


def sender_holds(client: redis.Redis, account: str, now: float) -> list[holds.Hold]:
    """The account's held senders at `now` (a scan of the hold keys, which are few and
    short-lived)."""
    prefix = keys.sender_holds(account)
    found = sorted(cast(list[str], list(client.scan_iter(match=f"{prefix}*", count=1000))))
    if not found:
        return []
    pipe = client.pipeline(transaction=False)
    for key in found:
        pipe.get(key)
        pipe.pttl(key)
    replies = pipe.execute()
    held = (
        holds.found(account, key[len(prefix) :], replies[2 * i], int(replies[2 * i + 1]), now)
        for i, key in enumerate(found)
    )
    return [h for h in held if h is not None]


def rate_text(info: dict[str, Any]) -> str:
    """An account's rate in words: configured, learnt, or both."""
    parts = []
    if info["rate"] is not None:
        burst = f", burst {info['burst']}" if info["burst"] is not None else ""
        parts.append(f"{info['rate']:g}/s{burst}")
    if info["learnt_rate"] is not None:
        limit = "" if info["ceiling"] is None else f" (limit met at {info['ceiling']:.1f}/s)"
        parts.append(f"learnt {info['learnt_rate']:.1f}/s{limit}")
    return "; ".join(parts) or f"none set: learnt from {INITIAL:g}/s"


def render(data: dict[str, Any]) -> Group:
    """The overview: a line about waiting work, each account's limits and what it holds, each
    hold in full (its own lines, which wrap between words: a table's narrow cell would cut
    its time short), then the counters."""
    waiting = data["waiting"]
    tasks = waiting["tasks"]
    head = Text(
        f"{counted(data['workers'], 'worker')} alive. "
        f"Waiting: {waiting['due']:,} due now, "
        f"{waiting['later']:,} due later, {waiting['metered']:,} metered and not yet taken; "
        f"tasks queued: {tasks['transactional']:,} transactional, {tasks['bulk']:,} bulk"
    )
    limits = Table(title="limits and holds")
    for column in ("account", "kind", "rate", "held"):
        limits.add_column(column, no_wrap=column in ("account", "kind"))
    counters = Table(title="counters")
    counters.add_column("account", no_wrap=True)
    for column in ("accepted", "rate limited", "sent", "failed", "unknown", "retries"):
        counters.add_column(column, justify="right")
    held: list[Text] = []
    for name, info in data["accounts"].items():
        found = [hold_of(name, h) for h in [info["cooldown"], *info["holds"]] if h]
        held += [Text(f"{name}: {h.text()}") for h in found]
        limits.add_row(
            name,
            info["kind"] or "not configured",
            rate_text(info),
            "\n".join(h.what for h in found) or "-",
        )
        c = info["counters"]
        counters.add_row(name, *(f"{c[f]:,}" for f in COUNTERS))
    return Group(head, limits, *held, counters)


def hold_of(account: str, hold: dict[str, Any]) -> holds.Hold:
    """A hold of the overview's data (`Hold.as_dict`) as the hold itself, to say it in words
    as every door does (sms.holds.Hold.text)."""
    until = datetime.fromisoformat(hold["until"]).timestamp()
    return holds.Hold(account, hold["sender"], hold["reason"], until)
