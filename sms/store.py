"""Message and campaign records in Redis: the truth about every message.

Every change of status goes through one of the Lua scripts in sms/lua/, so a record, its
campaign's counts, the lease set and the schedule always change together. `Store` is the
blocking client (producer, CLI); `AsyncStore` is the worker's, on its event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, cast

import redis
import redis.asyncio as aredis

from sms import keys
from sms.errors import NotFound
from sms.message import Message, Status


def _lua(name: str) -> str:
    return resources.files("sms").joinpath("lua", name).read_text(encoding="utf-8")


ENQUEUE = _lua("enqueue.lua")
CLAIM = _lua("claim.lua")
MOVE = _lua("move.lua")
DUE = _lua("due.lua")


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


def enqueue_call(
    message: Message, *, retention: int, due: float | None
) -> tuple[list[str], list[str]]:
    """Keys and arguments of enqueue.lua for one message."""
    record = keys.message(message.id)
    idem = keys.idempotency(message.idempotency_key) if message.idempotency_key else record
    counts = keys.campaign_counts(message.campaign) if message.campaign else record
    args = [
        message.id,
        message.model_dump_json(),
        message.account,
        message.campaign or "",
        message.lane.value,
        str(retention),
        "1" if message.idempotency_key else "0",
        "" if due is None else repr(due),
    ]
    return [record, idem, counts, keys.SCHEDULE, keys.stats(message.account), keys.PENDING], args


def claim_call(
    message_id: str, account: str, campaign: str | None, owner: str, lease: float
) -> tuple[list[str], list[str]]:
    """Keys and arguments of claim.lua."""
    record = keys.message(message_id)
    counts = keys.campaign_counts(campaign) if campaign else record
    k = [record, keys.LEASES, counts, keys.stats(account), keys.PENDING]
    return k, [message_id, owner, repr(lease), "1" if campaign else "0"]


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

    def call(self, retention: int) -> tuple[list[str], list[str]]:
        """Keys and arguments of move.lua."""
        record = keys.message(self.message_id)
        counts = keys.campaign_counts(self.campaign) if self.campaign else record
        ref = keys.provider_ref(self.account, self.provider_id) if self.provider_id else record
        terminal = self.to_status not in (Status.QUEUED, Status.SENDING, Status.UNKNOWN)
        keep = str(retention) if terminal or self.provider_id else ""
        args = [
            self.message_id,
            self.from_status.value,
            self.owner,
            self.to_status.value,
            self.reason,
            self.provider_id or "",
            keep,
            "1" if self.count_attempt else "0",
            "" if self.due is None else repr(self.due),
            "1" if self.campaign else "0",
            "0" if self.accepted_at is None else "1",
        ]
        tally = (
            record if self.accepted_at is None else keys.accepted_in(self.account, self.accepted_at)
        )
        return [
            record,
            keys.LEASES,
            counts,
            keys.SCHEDULE,
            ref,
            tally,
            keys.stats(self.account),
            keys.PENDING,
            keys.UNKNOWN,
            keys.idempotency(self.idempotency_key) if self.idempotency_key else record,
        ], args


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
    ) -> list[tuple[str, bool]]:
        """Write records in one round trip: (id, created) per message; a duplicate key's
        message gets the id of the message that holds the key, and created False."""
        pipe = self.redis.pipeline(transaction=False)
        for message, due in zip(messages, dues, strict=True):
            k, a = enqueue_call(message, retention=self.retention, due=due)
            self._enqueue(keys=k, args=a, client=pipe)
        return [(str(mid), bool(created)) for mid, created in pipe.execute()]

    def get(self, message_id: str) -> Record:
        """The record of one message, or NotFound."""
        raw = cast(dict[str, str], self.redis.hgetall(keys.message(message_id)))
        if not raw:
            raise NotFound(f"no message with id {message_id!r}")
        return Record.from_hash(message_id, raw)

    def move(self, move: Move) -> bool:
        """Apply one status change if the record is where `move` expects it."""
        k, a = move.call(self.retention)
        return bool(self._move(keys=k, args=a))

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

    async def read_many(self, ids: Sequence[str]) -> list[dict[str, str] | None]:
        """status, campaign, account and data of each id (None when the record is gone)."""
        pipe = self.redis.pipeline(transaction=False)
        for mid in ids:
            pipe.hmget(keys.message(mid), "status", "campaign", "account", "data")
        rows = await pipe.execute()
        out: list[dict[str, str] | None] = []
        for row in rows:
            status, campaign, account, data = row
            out.append(
                None
                if status is None
                else {"status": status, "campaign": campaign, "account": account, "data": data}
            )
        return out

    async def claim_many(
        self, items: Sequence[tuple[str, str, str | None]], owner: str, lease: float
    ) -> list[list[Any]]:
        """Claim each (id, account, campaign) in one round trip; per id the script's answer."""
        pipe = self.redis.pipeline(transaction=False)
        for mid, account, campaign in items:
            k, a = claim_call(mid, account, campaign, owner, lease)
            await self._claim(keys=k, args=a, client=pipe)
        return list(await pipe.execute())

    async def claim_into(
        self,
        pipe: aredis.client.Pipeline,
        message_id: str,
        account: str,
        campaign: str | None,
        owner: str,
        lease: float,
    ) -> None:
        """Queue one claim on a pipeline the caller executes."""
        k, a = claim_call(message_id, account, campaign, owner, lease)
        await self._claim(keys=k, args=a, client=pipe)

    async def move_into(self, pipe: aredis.client.Pipeline, move: Move) -> None:
        """Queue one status change on a pipeline the caller executes."""
        k, a = move.call(self.retention)
        await self._move(keys=k, args=a, client=pipe)

    async def move_many(self, moves: Sequence[Move]) -> list[bool]:
        """Apply several status changes in one round trip."""
        if not moves:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for m in moves:
            k, a = m.call(self.retention)
            await self._move(keys=k, args=a, client=pipe)
        return [bool(r) for r in await pipe.execute()]
