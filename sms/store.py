"""Message and campaign records in Redis: the truth about every message.

Every change of status goes through one of the Lua scripts in sms/lua/, so a record, its
campaign's counts, the lease set and the schedule always change together. `Store` is the
blocking client (producer, CLI); `AsyncStore` is the worker's, on its event loop.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib import resources
from typing import Any, NamedTuple, cast

import redis
import redis.asyncio as aredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from sms import keys
from sms.errors import NotFound
from sms.holds import Hold, Pair, holding
from sms.message import Lane, Message, Status
from sms.times import iso


def lua(name: str) -> str:
    """The source of one of the scripts in sms/lua/."""
    return resources.files("sms").joinpath("lua", name).read_text(encoding="utf-8")


#: The status callbacks' events (sms/callbacks.py), written by each script that changes a
#: status in the same step: their functions come first in those scripts.
HOOKS = lua("hooks.lua")
ENQUEUE = HOOKS + lua("enqueue.lua")
CLAIM = HOOKS + lua("claim.lua")
MOVE = HOOKS + lua("move.lua")
INGESTED = HOOKS + lua("ingested.lua")
METER = lua("meter.lua")
GIVE_BACK = lua("give_back.lua")
RESCHEDULE = lua("reschedule.lua")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One status change: when (epoch seconds), to what, and why."""

    at: float
    status: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    """A message as Redis holds it."""

    id: str
    status: Status
    message: Message
    attempts: int
    reason: str
    provider_id: str | None
    created: float
    updated: float
    history: tuple[HistoryEntry, ...] = field(default=())
    row: str = ""  # a blast's input row as JSON (a list of a CSV's fields, a JSONL object)
    hold: Hold | None = None  # what holds it back, when it waits and one is in force (`held`)

    @classmethod
    def from_hash(cls, message_id: str, raw: dict[str, str]) -> Record:
        """Build a record from the hash fields HGETALL returns."""
        history = []
        for line in raw.get("history", "").splitlines():
            at, _, rest = line.partition(" ")
            status, _, reason = rest.partition(" ")
            history.append(HistoryEntry(float(at), status, reason))
        return cls(
            id=message_id,
            status=Status(raw["status"]),
            message=Message.from_record(raw["data"]),
            attempts=int(raw.get("attempts", 0)),
            reason=raw.get("reason", ""),
            provider_id=raw.get("provider_id") or None,
            created=float(raw.get("created", 0)),
            updated=float(raw.get("updated", 0)),
            history=tuple(history),
            row=raw.get("row", ""),
        )

    @property
    def pair(self) -> Pair:
        """Its (account, sender): what a hold may pause."""
        return (self.message.account, self.message.sender)

    def held(self, found: Mapping[Pair, Hold | None]) -> Record:
        """This record with what holds it back (`found`: sms.holds.holding), if it waits."""
        if self.status is not Status.QUEUED:
            return self
        return replace(self, hold=found.get(self.pair))

    def waiting_for(self, now: float | None = None) -> str | None:
        """What a queued message waits for, in words; None once it is no longer queued."""
        if self.status is not Status.QUEUED:
            return None
        send_at = self.message.send_at
        if send_at is not None and send_at.timestamp() > (time.time() if now is None else now):
            return f"its send_at, {iso(send_at.timestamp())}"
        if self.hold is not None:
            return self.hold.text()
        return "its turn at its account's rate"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe view for `salvo status --json` and the HTTP API (times ISO 8601)."""
        return {
            "id": self.id,
            "status": self.status.value,
            "account": self.message.account,
            "to": self.message.to,
            "campaign": self.message.campaign,
            "attempts": self.attempts,
            "reason": self.reason,
            "provider_id": self.provider_id,
            "send_at": iso(self.message.send_at.timestamp()) if self.message.send_at else None,
            "expires_at": (
                iso(self.message.expires_at.timestamp()) if self.message.expires_at else None
            ),
            "waiting_for": self.waiting_for(),
            "created": iso(self.created),
            "updated": iso(self.updated),
            "history": [
                {"at": iso(h.at), "status": h.status, "reason": h.reason} for h in self.history
            ],
        }


def _pairs(flat: Sequence[str]) -> list[tuple[str, str | None]]:
    """[id, campaign, id, campaign, ...] as (id, campaign or None) pairs."""
    return [(str(flat[i]), str(flat[i + 1]) or None) for i in range(0, len(flat), 2)]


def _json(items: list[list[str]]) -> str:
    """The one argument of a batch script: every entry's keys and values, as compact JSON."""
    return json.dumps(items, ensure_ascii=False, separators=(",", ":"))


class Entry(NamedTuple):
    """One message's entry for enqueue.lua: the fields it shares with the messages around it
    (`head`, the same tuple object for every message alike) and its own, joined by `SEP`."""

    head: tuple[str, ...]
    own: str


#: What joins a message's own fields for enqueue.lua. None of the fields before the id can
#: hold it (control characters are refused in idempotency keys, numbers are E.164, JSON escapes
#: them); the id comes last, so it can.
SEP = "\x1f"


@functools.lru_cache(maxsize=256)
def _head(
    account: str,
    campaign: str,
    lane: str,
    sender: str,
    expires: str,
    indexed: bool,
    callback: str,
    optouts: str,
) -> tuple[str, ...]:
    """The fields enqueue.lua takes once for a group of messages alike (the keys named here)."""
    return (
        account,
        campaign,
        lane,
        keys.campaign_counts(campaign) if campaign else "",
        keys.stats(account),
        keys.ready(account, lane),
        sender,
        expires,
        keys.campaign_rows(campaign) if indexed else "",
        callback,
        optouts,
    )


def enqueue_item(
    message: Message,
    *,
    due: float | None,
    line: int | None = None,
    row: str | None = None,
    callback: str | None = None,
    fingerprint: str | None = None,
    data: str | None = None,
) -> Entry:
    """One message's entry for enqueue.lua; `line` (its input row's) indexes a campaign's
    message in `keys.campaign_rows`, `row` (its input row as JSON) is kept on its record for
    the campaign's export, `callback` is the URL its status changes go to, `fingerprint` is
    `message.fingerprint()` and `data` its `record_json()` when the caller has them
    (sms.message.Stamp)."""
    return enqueue_items([message], [due], [line], [row], [callback], [fingerprint], [data])[0]


def _head_of(message: Message, indexed: bool, callback: str, optouts: str) -> tuple[str, ...]:
    expires = message.expires_at
    return _head(
        message.account,
        message.campaign or "",
        message.lane.value,
        message.sender,
        "" if expires is None else repr(expires.timestamp()),
        indexed,
        callback,
        optouts,
    )


def enqueue_args(entries: Sequence[Entry]) -> list[str]:
    """enqueue.lua's arguments for `entries`, in order: the record keys' prefix, then each run
    of entries with the same head as one group (its size, its head, its entries' own fields)."""
    args = [keys.message("")]
    head: tuple[str, ...] | None = None
    at = 0
    for entry in entries:
        if entry.head is not head and entry.head != head:
            if head is not None:
                args[at] = str(len(args) - at - 1 - len(head))
            head = entry.head
            at = len(args)
            args.append("")
            args.extend(head)
        args.append(entry.own)
    if head is not None:
        args[at] = str(len(args) - at - 1 - len(head))
    return args


def enqueue_items(
    messages: Sequence[Message],
    dues: Sequence[float | None],
    lines: Sequence[int | None] | None = None,
    rows: Sequence[str | None] | None = None,
    callbacks: Sequence[str | None] | None = None,
    fingerprints: Sequence[str | None] | None = None,
    data: Sequence[str | None] | None = None,
    optouts: Callable[[str, str], str] | None = None,
) -> list[Entry]:
    """`enqueue_item` of each message, the optional sequences read as None where not given:
    `lines` (a blast's input lines) index each campaign message by its row, `rows` (each input
    row as JSON) are kept on the records, `callbacks` are the URLs their status changes go to
    (sms/callbacks.py), `fingerprints` and `data` are the messages' own, when the caller has
    them. Messages alike in a row (a blast's) share one head, made once. With `optouts`,
    (account, lane) -> the hash of opt-outs that holds its messages back ("" = none),
    enqueue.lua leaves out each message to a number on it (`Admission.SUPPRESSED`), in the
    step that would write it."""
    none: list[None] = [None] * len(messages)
    out: list[Entry] = []
    alike: tuple[object, ...] = ()
    head: tuple[str, ...] = ()
    for m, due, line, row, url, fingerprint, json_ in zip(
        messages,
        dues,
        lines if lines is not None else none,
        rows if rows is not None else none,
        callbacks if callbacks is not None else none,
        fingerprints if fingerprints is not None else none,
        data if data is not None else none,
        strict=True,
    ):
        campaign = m.campaign
        indexed = bool(line and campaign)
        shared = (m.account, campaign, m.lane, m.sender, m.expires_at, indexed, url)
        if shared != alike:
            held = optouts(m.account, m.lane.value) if optouts is not None else ""
            alike, head = shared, _head_of(m, indexed, url or "", held)
        key = m.idempotency_key
        idem = keys.idempotency(key) if key else ""
        if SEP in idem:
            raise ValueError(f"idempotency key {key!r} holds a control character")
        own = SEP.join(
            (
                idem,
                (fingerprint or m.fingerprint()) if key else "",
                "" if due is None else repr(due),
                str(line) if indexed else "",
                m.to if url or head[-1] else "",
                (row or "") if indexed else "",
                m.record_json() if json_ is None else json_,
                m.id,
            )
        )
        out.append(Entry(head, own))
    return out


class Admission(StrEnum):
    """What enqueueing did with a message, by its idempotency key."""

    NEW = "new"  # recorded and queued
    REPEAT = "repeat"  # its key already names a message with the same content: nothing written
    CONFLICT = "conflict"  # its key already names a message with other content: nothing written
    SUPPRESSED = "suppressed"  # to a number that opted out (asked for): nothing written


_ADMISSIONS = {
    1: Admission.NEW,
    0: Admission.REPEAT,
    -1: Admission.CONFLICT,
    2: Admission.SUPPRESSED,
}


class Enqueued(NamedTuple):
    """One message's answer from enqueue: the id that holds its key (its own when new, the
    earlier message's for a repeat or a conflict) and what happened."""

    id: str
    admission: Admission

    @property
    def created(self) -> bool:
        """Whether this message was recorded now."""
        return self.admission is Admission.NEW


def claim_item(message_id: str, account: str) -> list[str]:
    """One message's entry for claim.lua."""
    return [message_id, keys.message(message_id), keys.stats(account)]


@dataclass(frozen=True, slots=True)
class Claimed:
    """claim.lua's answer for one message: `status` is "claimed" (then `message`, `attempts`
    and `created` are set), "paused" (set aside), "cancelled" or "expired" (still queued, for
    the caller to end), "missing", or the status the record has instead of queued."""

    status: str
    message: Message | None = None
    attempts: int = 0
    created: float = 0.0
    campaign: str | None = None  # of a cancelled or expired message

    @classmethod
    def from_reply(cls, reply: Sequence[Any]) -> Claimed:
        """Read one entry of claim.lua's answer."""
        if reply[0] != "claimed":
            return cls(str(reply[0]), campaign=str(reply[1]) or None if len(reply) > 1 else None)
        return cls("claimed", Message.from_record(reply[3]), int(reply[1]), float(reply[2]))


@dataclass(frozen=True, slots=True)
class Metered:
    """meter.lua's answer for one account: what to publish, by lane, and what to end unsent."""

    cooldown: float  # seconds the account is still cooling down (0: none, and ids were taken)
    transactional: list[str]
    bulk: list[str]
    cancelled: list[tuple[str, str | None]]  # (id, campaign) to end unsent
    expired: list[tuple[str, str | None]]


@dataclass(frozen=True, slots=True)
class Move:
    """A status change for move.lua: from where, by whom, to where, and why."""

    message_id: str
    account: str
    campaign: str | None
    from_status: Status
    to_status: Status
    reason: str = ""
    owner: str = ""
    provider_id: str | None = None
    count_attempt: bool = False
    due: float | None = None
    accepted_at: int | None = None  # the tenth of a second it was accepted in, for pacing
    idempotency_key: str | None = None  # its key's time to live starts when the message ends
    lane: str | None = None  # its ready queue's lane: needed with `due`, and to leave it

    def item(self, retention: int) -> list[str]:
        """This move's entry for move.lua."""
        if self.due is not None and self.lane is None:
            raise ValueError(f"move of {self.message_id} with a due time names no lane")
        terminal = self.to_status not in (Status.QUEUED, Status.SENDING, Status.UNKNOWN)
        leaves = self.from_status is Status.QUEUED
        return [
            self.message_id,
            keys.message(self.message_id),
            self.from_status.value,
            self.owner,
            self.to_status.value,
            self.reason,
            self.provider_id or "",
            keys.provider_ref(self.account, self.provider_id) if self.provider_id else "",
            str(retention) if terminal or self.provider_id else "",
            "1" if self.count_attempt else "0",
            "" if self.due is None else repr(self.due),
            keys.campaign_counts(self.campaign) if self.campaign else "",
            keys.stats(self.account),
            "" if self.accepted_at is None else keys.accepted_in(self.account, self.accepted_at),
            keys.idempotency(self.idempotency_key) if self.idempotency_key else "",
            keys.held_receipts(self.account, self.provider_id) if self.provider_id else "",
            keys.ready(self.account, self.lane) if self.lane else "",
            keys.out(self.account) if leaves else "",
            *([keys.campaign(self.campaign), self.campaign] if self.campaign else []),
        ]


@dataclass(frozen=True, slots=True)
class ScriptCall:
    """One call of a registered script, to run with others in one round trip."""

    script: AsyncScript
    keys: list[str]
    args: list[str]


#: move.lua's answer for a move that happened while receipts that overtook it are held for its
#: provider id (sms/receipts.py applies them); 1 is a plain move, 0 none.
MOVED_WITH_HELD_RECEIPTS = 2

#: The shared keys each batch script takes in KEYS.
ENQUEUE_KEYS = [keys.WAKE, keys.HOOKS, keys.HOOKS_DUE]
MOVE_KEYS = [keys.LEASES, keys.UNKNOWN, keys.HOOKS, keys.HOOKS_DUE]


@dataclass(frozen=True, slots=True)
class MeterLimits:
    """How much one meter.lua call may take for an account (see the script)."""

    rate: float
    burst: float
    horizon: float
    transactional_share: float
    max_out: int
    max_take: int
    min_bulk: int = 1  # fewest bulk ids worth a round while more than half of max_out is out


class Store:
    """Blocking access to records, for the producer and the CLI."""

    def __init__(self, client: redis.Redis, *, retention: int) -> None:
        self.redis = client
        self.retention = retention
        self._enqueue = client.register_script(ENQUEUE)
        self._move = client.register_script(MOVE)
        self._meter = client.register_script(METER)
        self._reschedule = client.register_script(RESCHEDULE)
        self._ingested = client.register_script(INGESTED)

    def campaign_ingested(self, campaign_id: str) -> bool:
        """A blast wrote all the campaign's rows: `campaign.finished` now when it has a
        callback URL, nothing is left queued or sending, and it has not finished at this size
        already (sms/lua/ingested.lua). Whether the event was written."""
        k = [keys.campaign(campaign_id), keys.campaign_counts(campaign_id)]
        return bool(self._ingested(keys=[*k, keys.HOOKS, keys.HOOKS_DUE], args=[campaign_id]))

    def reschedule(self, record: Record, message: Message, due: float, reason: str) -> str:
        """Store `message` (the record's own, with new times) as the record's data, due at
        `due`, if the record is still queued and waiting in its ready queue
        (sms/lua/reschedule.lua): "moved", "missing", "metered", or the status it has instead."""
        lane = message.lane.value
        expires = "" if message.expires_at is None else repr(message.expires_at.timestamp())
        return str(
            self._reschedule(
                keys=[keys.message(record.id), keys.ready(message.account, lane), keys.WAKE],
                args=[record.id, message.record_json(), repr(due), expires, reason],
            )
        )

    def enqueue_many(
        self, messages: Sequence[Message], dues: Sequence[float | None]
    ) -> list[Enqueued]:
        """Write records in one round trip, one answer per message; a message whose key is
        held gets the id of the message that holds it, as a repeat or a conflict."""
        return self.enqueue_entries(enqueue_items(messages, dues))

    def enqueue_entries(self, items: Sequence[Entry]) -> list[Enqueued]:
        """Write records from their entries (`enqueue_items`) in one round trip, one answer per
        message; a message whose key is held gets the id of the message that holds it, as a
        repeat or a conflict."""
        if not items:
            return []
        flat = self._enqueue(keys=ENQUEUE_KEYS, args=enqueue_args(items))
        return [
            Enqueued(str(flat[i]), _ADMISSIONS[int(flat[i + 1])]) for i in range(0, len(flat), 2)
        ]

    def id_for_key(self, idempotency_key: str) -> str | None:
        """The id of the message an idempotency key names, if it names one."""
        held = cast(str | None, self.redis.get(keys.idempotency(idempotency_key)))
        return None if held is None else held.split(" ")[0]  # "<id> <fingerprint>"

    def get(self, message_id: str) -> Record:
        """The record of one message, or NotFound."""
        raw = cast(dict[str, str], self.redis.hgetall(keys.message(message_id)))
        if not raw:
            raise NotFound(f"no message with id {message_id!r}")
        record = Record.from_hash(message_id, raw)
        if record.status is not Status.QUEUED:
            return record
        return record.held(holding(self.redis, [record.pair]))

    def move(self, move: Move) -> bool:
        """Apply one status change if the record is where `move` expects it."""
        return bool(self._move(keys=MOVE_KEYS, args=[_json([move.item(self.retention)])])[0])

    def move_many(self, moves: Sequence[Move]) -> list[bool]:
        """Apply several status changes in one step."""
        if not moves:
            return []
        items = _json([m.item(self.retention) for m in moves])
        return [bool(r) for r in self._move(keys=MOVE_KEYS, args=[items])]

    def meter(self, account: str, limits: MeterLimits) -> Metered:
        """Take from the account's ready queues what it can send now (sms/lua/meter.lua)."""
        return self.meter_many([(account, limits)])[0]

    def meter_many(self, accounts: Sequence[tuple[str, MeterLimits]]) -> list[Metered]:
        """meter.lua for each account, in one round trip; each account's answer, in order.

        The calls go out as plain EVALSHA on a pipeline, as AsyncStore.run sends them: a
        script the server no longer has answers NOSCRIPT without having run, and is loaded and
        run again alone."""
        calls = [_meter_call(account, limits) for account, limits in accounts]
        pipe = self.redis.pipeline(transaction=False)
        for k, args in calls:
            pipe.evalsha(self._meter.sha, len(k), *k, *args)
        answers = pipe.execute(raise_on_error=False)
        metered = []
        for (k, args), answer in zip(calls, answers, strict=True):
            if isinstance(answer, NoScriptError):
                answer = self._meter(keys=k, args=args)
            elif isinstance(answer, Exception):
                raise answer
            cool, tx, bulk, cancelled, expired = answer
            metered.append(
                Metered(int(cool) / 1000, list(tx), list(bulk), _pairs(cancelled), _pairs(expired))
            )
        return metered


def _meter_call(account: str, limits: MeterLimits) -> tuple[list[str], list[str | int]]:
    """meter.lua's keys and arguments for one account."""
    k = [
        keys.ready(account, Lane.TRANSACTIONAL.value),
        keys.ready(account, Lane.BULK.value),
        keys.out(account),
        keys.cooldown(account),
        keys.bucket(account),
    ]
    args: list[str | int] = [
        repr(limits.rate),
        repr(limits.burst),
        repr(limits.horizon),
        repr(limits.transactional_share),
        limits.max_out,
        limits.max_take,
        keys.sender_holds(account),
        keys.message(""),
        keys.campaign(""),
        limits.min_bulk,
    ]
    return k, args


class AsyncStore:
    """The worker's access to records, on its event loop."""

    def __init__(self, client: aredis.Redis, *, retention: int) -> None:
        self.redis = client
        self.retention = retention
        self._claim = client.register_script(CLAIM)
        self._move = client.register_script(MOVE)
        self._give_back = client.register_script(GIVE_BACK)

    async def give_back(self, account: str, lane: str, ids: Sequence[str]) -> int:
        """Put metered `ids` of the account's `lane` that no worker claimed back in their ready
        queue, due when they were metered (sms/lua/give_back.lua); how many went back."""
        if not ids:
            return 0
        k = [keys.out(account), keys.ready(account, lane)]
        return int(await self._give_back(keys=k, args=list(ids)))

    async def claim_many(
        self, ids: Sequence[str], account: str, owner: str, lease: float
    ) -> list[Claimed]:
        """Claim and read each of the account's `ids` in one step."""
        if not ids:
            return []
        replies = (await self.run([self.claim_call(ids, account, owner, lease)]))[0]
        return [Claimed.from_reply(r) for r in replies]

    def claim_call(self, ids: Sequence[str], account: str, owner: str, lease: float) -> ScriptCall:
        """claim.lua for the account's `ids`, for `run`."""
        items = _json([claim_item(mid, account) for mid in ids])
        args = [owner, repr(lease), keys.campaign(""), items]
        k = [keys.LEASES, keys.out(account), keys.HOOKS, keys.HOOKS_DUE]
        return ScriptCall(self._claim, k, args)

    def move_call(
        self, moves: Sequence[Move], counters: Mapping[str, Mapping[str, float]] | None = None
    ) -> ScriptCall:
        """move.lua for `moves`, adding `counters` ({stats key: {field: n}}), for `run`."""
        items = _json([m.item(self.retention) for m in moves])
        extra = [json.dumps(counters, separators=(",", ":"))] if counters else []
        return ScriptCall(self._move, MOVE_KEYS, [items, *extra])

    async def run(self, calls: Sequence[ScriptCall]) -> list[Any]:
        """Run several script calls in one round trip; each call's answer, in order.

        The calls go out as plain EVALSHA on a pipeline: redis-py would first ask the server
        whether each script exists (SCRIPT EXISTS, one more round trip). A script the server no
        longer has answers NOSCRIPT without having run, and is loaded and run again alone.
        """
        pipe = self.redis.pipeline(transaction=False)
        for call in calls:
            pipe.evalsha(call.script.sha, len(call.keys), *call.keys, *call.args)
        results = await pipe.execute(raise_on_error=False)
        for i, result in enumerate(results):
            if isinstance(result, NoScriptError):
                call = calls[i]
                results[i] = await call.script(keys=call.keys, args=call.args)
            elif isinstance(result, Exception):
                raise result
        return list(results)

    async def move_many(self, moves: Sequence[Move]) -> list[bool]:
        """Apply several status changes in one step."""
        if not moves:
            return []
        return [bool(r) for r in (await self.run([self.move_call(moves)]))[0]]
