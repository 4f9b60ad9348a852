"""What the send step asks of the audience, right before a message is sent: has its recipient
opted out since it was enqueued (it ends `suppressed`, never sent), and is it in the
recipient's quiet hours (it waits until the window opens)?

`Gate(settings).judge(client, messages, now)` answers for a whole batch in one round trip per
account (HMGET on the account's opt-out list, sms/optout.py) and a pure computation per message
(sms/quiet.py). `record_opt_out` puts a number on the list when a provider answers that the
recipient opted out (`Outcome.opted_out`). Both take the worker's asyncio client; neither writes
anything a send needs, so the engine may call them wherever its claim step reads the record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

import redis.asyncio as aredis

from sms import keys
from sms.message import Message
from sms.optout import OptOut, applies
from sms.quiet import Window, next_send_time, parse_window
from sms.settings import Settings

#: The most messages one coalesced check judges.
CHECK_BATCH = 1000
#: The reason a suppressed message's record carries.
SUPPRESSED_REASON = "recipient opted out"


@dataclass(frozen=True, slots=True)
class Verdict:
    """For a batch: the ids to end `suppressed` (never sent), and the ids that must wait, with
    the epoch second their recipient's quiet hours end. Every other message may go now."""

    suppressed: frozenset[str] = frozenset()
    waits: dict[str, float] = field(default_factory=dict)


class Gate:
    """Opt-outs and quiet hours at send time, for one deployment's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._windows: dict[str, tuple[Window | None, tuple[str, ...]]] = {}

    def optouts_key(self, account: str) -> str:
        """The hash of `account`'s opt-outs under the deployment's scope."""
        if self.settings.optout_scope == "global":
            return keys.OPTOUTS_GLOBAL
        return keys.optouts(account)

    def window(self, account: str) -> tuple[Window | None, tuple[str, ...]]:
        """The quiet window and lanes of an account (its own, else the deployment's)."""
        found = self._windows.get(account)
        if found is None:
            text, lanes = self.settings.quiet_for(account)
            found = (parse_window(text) if text else None, lanes)
            self._windows[account] = found
        return found

    def quiet_until(self, message: Message, now: float) -> float | None:
        """When `message` may go if it is in its recipient's quiet hours at `now`; else None."""
        window, lanes = self.window(message.account)
        if window is None:
            return None
        start = datetime.fromtimestamp(now, UTC)
        at = next_send_time(message.to, window, message.lane.value, lanes, start)
        return at.timestamp() if at > start else None

    async def judge(
        self, client: aredis.Redis, messages: Sequence[Message], now: float | None = None
    ) -> Verdict:
        """Which of `messages` are suppressed and which must wait for quiet hours."""
        now = time.time() if now is None else now
        by_key: dict[str, list[Message]] = {}
        for message in messages:
            if message.account not in self.settings.providers:
                continue  # the engine fails a message of an unknown account on its own
            applies_to = self.settings.account(message.account).optout_applies_to
            if applies(applies_to, message.lane.value):
                by_key.setdefault(self.optouts_key(message.account), []).append(message)
        suppressed: set[str] = set()
        if by_key:
            pipe = client.pipeline(transaction=False)
            for key, group in by_key.items():
                pipe.hmget(key, [m.to for m in group])
            answers = cast(list[list[str | None]], await pipe.execute())
            for group, found in zip(by_key.values(), answers, strict=True):
                suppressed.update(m.id for m, hit in zip(group, found, strict=True) if hit)
        waits: dict[str, float] = {}
        for message in messages:
            if message.id in suppressed or message.account not in self.settings.providers:
                continue
            until = self.quiet_until(message, now)
            if until is not None:
                waits[message.id] = until
        return Verdict(frozenset(suppressed), waits)

    async def record_opt_out(
        self, client: aredis.Redis, account: str, phone: str, reason: str
    ) -> bool:
        """Put `phone` on `account`'s list because its provider said it opted out; True if new."""
        entry = OptOut(phone, account, time.time(), "provider", reason[:100])
        return bool(await client.hsetnx(self.optouts_key(account), phone, entry.dump()))


class Checker:
    """Coalesces the send-time checks of the messages a worker claims in one turn of its event
    loop into one `Gate.judge` (one round trip), as the engine's recorder coalesces claims."""

    def __init__(self, gate: Gate, client: aredis.Redis) -> None:
        self.gate = gate
        self.client = client
        self._pending: list[tuple[Message, asyncio.Future[tuple[bool, float | None]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def check(self, message: Message) -> tuple[bool, float | None]:
        """Whether `message` is suppressed, and until when it must wait for quiet hours."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[bool, float | None]] = loop.create_future()
        self._pending.append((message, done))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the other sends of this turn add theirs
            while self._pending:
                batch, self._pending = self._pending[:CHECK_BATCH], self._pending[CHECK_BATCH:]
                try:
                    verdict = await self.gate.judge(self.client, [m for m, _ in batch])
                except Exception as exc:  # every waiting send hears of it, none hangs
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                    continue
                for message, done in batch:
                    if not done.done():
                        found = (message.id in verdict.suppressed, verdict.waits.get(message.id))
                        done.set_result(found)
        finally:
            self._flusher = None
