"""`salvo status` with no id: every account's limits, cooldown and counters, and what waits.

`overview` reads it all in one round trip and returns plain JSON-safe data; `render` draws it
as two tables (limits, counters).
"""

from __future__ import annotations

import time
from typing import Any, cast

import redis
from rich.console import Group
from rich.table import Table
from rich.text import Text

from sms import keys
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
    for name in names:
        pipe.hgetall(keys.learnt_rate(name))
        pipe.get(keys.cooldown(name))
        pipe.pttl(keys.cooldown(name))
        pipe.hmget(keys.stats(name), *COUNTERS)
        for lane in lanes:
            pipe.zcount(keys.ready(name, lane), "-inf", now)
            pipe.zcard(keys.ready(name, lane))
        pipe.zcard(keys.out(name))
    transactional, bulk, workers, *rest = pipe.execute()
    per = 5 + 2 * len(lanes)
    accounts: dict[str, Any] = {}
    totals = {"due": 0, "later": 0, "metered": 0}
    for i, name in enumerate(names):
        learnt_raw, reason, pttl, counts, *queues = rest[per * i : per * (i + 1)]
        account = settings.providers.get(name)
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
            "cooldown": None
            if reason is None
            else {"reason": reason, "seconds": max(0, int(pttl)) / 1000},
            "holds": sender_holds(client, name),
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


def sender_holds(client: redis.Redis, account: str) -> list[dict[str, Any]]:
    """The account's held senders: each with the reason and the seconds until it is tried
    again (a scan of the hold keys, which are few and short-lived)."""
    prefix = keys.sender_holds(account)
    found = sorted(cast(list[str], list(client.scan_iter(match=f"{prefix}*", count=1000))))
    if not found:
        return []
    pipe = client.pipeline(transaction=False)
    for key in found:
        pipe.get(key)
        pipe.pttl(key)
    replies = pipe.execute()
    holds = []
    for i, key in enumerate(found):
        reason, pttl = replies[2 * i], replies[2 * i + 1]
        if reason is not None and pttl > 0:
            holds.append({"sender": key[len(prefix) :], "reason": reason, "seconds": pttl / 1000})
    return holds


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
    """The overview: a line about waiting work, each account's limits, then its counters."""
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
    for name, info in data["accounts"].items():
        cooldown = info["cooldown"]
        held = [] if cooldown is None else [f"account: {hold_text(cooldown)}"]
        held += [f"sender {h['sender']}: {hold_text(h)}" for h in info["holds"]]
        limits.add_row(
            name, info["kind"] or "not configured", rate_text(info), "\n".join(held) or "-"
        )
        c = info["counters"]
        counters.add_row(name, *(f"{c[f]:,}" for f in COUNTERS))
    return Group(head, limits, counters)


def hold_text(hold: dict[str, Any]) -> str:
    """A hold in words: when it is next tried, and why."""
    return f"tried again in {hold['seconds']:.1f} s ({hold['reason']})"
