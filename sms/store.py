"""Message and campaign records in Redis: the truth about every message.

Every change of status goes through one of the Lua scripts in sms/lua/, so a record, its
campaign's counts, the lease set and the schedule always change together. `Store` is the
blocking client (producer, CLI); `AsyncStore` is the worker's, on its event loop.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any, NamedTuple, cast

import redis
import redis.asyncio as aredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from sms import keys
from sms.errors import NotFound
from sms.message import Message, Status


def lua(name: str) -> str:
    """The source of one of the scripts in sms/lua/."""
    return resources.files("sms").joinpath("lua", name).read_text(encoding="utf-8")


ENQUEUE = lua("enqueue.lua")
CLAIM = lua("claim.lua")
MOVE = lua("move.lua")
DUE = lua("due.lua")
READ = lua("read.lua")
SET_ASIDE = lua("set_aside.lua")


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
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe view for `salvo status --json` and the HTTP API."""
        return {
            "id": self.id,
            "status": self.status.value,
            "account": self.message.account,
            "to": self.message.to,
            "campaign": self.message.campaign,
            "attempts": self.attempts,
            "reason": self.reason,
            "provider_id": self.provider_id,
            "created": self.created,
            "updated": self.updated,
            "history": [{"at": h.at, "status": h.status, "reason": h.reason} for h in self.history],
        }


def _json(items: list[list[str]]) -> str:
    """The one argument of a batch script: every entry's keys and values, as compact JSON."""
    return json.dumps(items, ensure_ascii=False, separators=(",", ":"))


def enqueue_item(message: Message, *, due: float | None) -> list[str]:
    """One message's entry for enqueue.lua."""
    return [
        message.id,
        keys.message(message.id),
        message.model_dump_json(),
        message.account,
        message.campaign or "",
        message.lane.value,
        keys.idempotency(message.idempotency_key) if message.idempotency_key else "",
        keys.campaign_counts(message.campaign) if message.campaign else "",
        keys.stats(message.account),
        "" if due is None else repr(due),
        message.fingerprint() if message.idempotency_key else "",
    ]


class Admission(StrEnum):
    """What enqueueing did with a message, by its idempotency key."""

    NEW = "new"  # recorded and queued
    REPEAT = "repeat"  # its key already names a message with the same content: nothing written
    CONFLICT = "conflict"  # its key already names a message with other content: nothing written


_ADMISSIONS = {1: Admission.NEW, 0: Admission.REPEAT, -1: Admission.CONFLICT}


class Enqueued(NamedTuple):
    """One message's answer from enqueue: the id that holds its key (its own when new, the
    earlier message's for a repeat or a conflict) and what happened."""

    id: str
    admission: Admission

    @property
    def created(self) -> bool:
        """Whether this message was recorded now."""
        return self.admission is Admission.NEW


def claim_item(message_id: str, account: str, campaign: str | None) -> list[str]:
    """One message's entry for claim.lua."""
    counts = keys.campaign_counts(campaign) if campaign else ""
    return [message_id, keys.message(message_id), counts, keys.stats(account)]


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

    def item(self, retention: int) -> list[str]:
        """This move's entry for move.lua."""
        terminal = self.to_status not in (Status.QUEUED, Status.SENDING, Status.UNKNOWN)
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

#: The shared sorted sets each batch script takes in KEYS.
ENQUEUE_KEYS = [keys.SCHEDULE, keys.PENDING]
CLAIM_KEYS = [keys.LEASES, keys.PENDING]
MOVE_KEYS = [keys.LEASES, keys.SCHEDULE, keys.PENDING, keys.UNKNOWN]


class Store:
    """Blocking access to records, for the producer and the CLI."""

    def __init__(self, client: redis.Redis, *, retention: int) -> None:
        self.redis = client
        self.retention = retention
        self._enqueue = client.register_script(ENQUEUE)
        self._move = client.register_script(MOVE)
        self._due = client.register_script(DUE)

    def enqueue_many(
        self, messages: Sequence[Message], dues: Sequence[float | None]
    ) -> list[Enqueued]:
        """Write records in one round trip, one answer per message; a message whose key is
        held gets the id of the message that holds it, as a repeat or a conflict."""
        if not messages:
            return []
        items = [enqueue_item(m, due=d) for m, d in zip(messages, dues, strict=True)]
        flat = self._enqueue(keys=ENQUEUE_KEYS, args=[_json(items)])
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
        return Record.from_hash(message_id, raw)

    def move(self, move: Move) -> bool:
        """Apply one status change if the record is where `move` expects it."""
        return bool(self._move(keys=MOVE_KEYS, args=[_json([move.item(self.retention)])])[0])

    def take_due(self, limit: int) -> list[str]:
        """Atomically take up to `limit` ids whose due time has come."""
        return [str(i) for i in self._due(keys=[keys.SCHEDULE, keys.PENDING], args=[limit])]

    def lanes_of(self, ids: Iterable[str]) -> list[tuple[str, str | None]]:
        """(id, lane) for each id; lane None when the record is gone."""
        ids = list(ids)
        pipe = self.redis.pipeline(transaction=False)
        for mid in ids:
            pipe.hget(keys.message(mid), "lane")
        return list(zip(ids, pipe.execute(), strict=True))


class AsyncStore:
    """The worker's access to records, on its event loop."""

    def __init__(self, client: aredis.Redis, *, retention: int) -> None:
        self.redis = client
        self.retention = retention
        self._claim = client.register_script(CLAIM)
        self._move = client.register_script(MOVE)
        self._read = client.register_script(READ)
        self._set_aside = client.register_script(SET_ASIDE)

    async def read_many(self, ids: Sequence[str]) -> list[dict[str, str] | None]:
        """status, campaign, account and data of each id (None when the record is gone)."""
        if not ids:
            return []
        flat = await self._read(keys=[keys.message(mid) for mid in ids])
        out: list[dict[str, str] | None] = []
        for i in range(0, len(flat), 4):
            status, campaign, account, data = flat[i : i + 4]
            out.append(
                None
                if status is None
                else {"status": status, "campaign": campaign, "account": account, "data": data}
            )
        return out

    async def claim_many(
        self, items: Sequence[tuple[str, str, str | None]], owner: str, lease: float
    ) -> list[list[Any]]:
        """Claim each (id, account, campaign) in one step; per id the script's answer."""
        if not items:
            return []
        return list((await self.run([self.claim_call(items, owner, lease)]))[0])

    async def set_aside(self, campaign: str, ids: Sequence[str]) -> str:
        """Set a paused campaign's queued ids aside until it resumes, if it is still paused;
        the campaign's state ("paused" when they were set aside)."""
        k = [keys.campaign(campaign), keys.campaign_paused(campaign), keys.PENDING]
        return str(await self._set_aside(keys=k, args=list(ids)))

    def claim_call(
        self, items: Sequence[tuple[str, str, str | None]], owner: str, lease: float
    ) -> ScriptCall:
        """claim.lua for each (id, account, campaign), for `run`."""
        args = [owner, repr(lease), _json([claim_item(*item) for item in items])]
        return ScriptCall(self._claim, CLAIM_KEYS, args)

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
