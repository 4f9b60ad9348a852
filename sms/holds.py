"""Holds as every door shows them: what is held, why, until when, and what to do about it.

worker/holds.py sets them: an account's cooldown (`keys.cooldown`) or one of its senders' holds
(`keys.sender_hold`), each a key whose value is the reason and whose TTL is what is left.
`salvo status` (its table and its JSON), the dashboard's accounts page, a held message's
`waiting_for` and a campaign's `held` (the CLI, the HTTP API, the Python API, the dashboard)
read them through here, so each door names the same hold the same way, with the same ISO 8601
time (sms.times.iso).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import redis
import redis.asyncio as aredis

from sms import keys
from sms.times import iso

#: What to do about a config error, by what it holds; the worker writes it into the reason
#: (worker/actions.py), so the hold and its messages say it alike.
FIX = {
    "sender": "enable this number for SMS at the provider, or send from one it has enabled",
    # Workers read settings when they start: mended credentials reach them with a restart.
    "account": (
        "fix the account's credentials in settings and restart the workers, or its billing or "
        "API access at the provider"
    ),
}


def fix(scope: Literal["account", "sender"]) -> str:
    """What an operator does about a config error that holds `scope`."""
    return FIX[scope]


@dataclass(frozen=True, slots=True)
class Hold:
    """An account (sender None: its cooldown, every sender) or one of its senders paused for
    every worker until `until` (epoch seconds), when its messages are tried again; and why."""

    account: str
    sender: str | None
    reason: str
    until: float

    @property
    def what(self) -> str:
        """What is held, in words."""
        return f"sender {self.sender}" if self.sender else "the whole account"

    def text(self) -> str:
        """The hold in words, as every door says it."""
        return f"{self.what} held until {iso(self.until)}, tried again then: {self.reason}"

    def as_dict(self, now: float) -> dict[str, Any]:
        """A JSON-safe view: `until` in ISO 8601, and the `seconds` left at `now`."""
        return {
            "sender": self.sender,
            "reason": self.reason,
            "until": iso(self.until),
            "seconds": round(max(0.0, self.until - now), 3),
        }


def found(
    account: str, sender: str | None, reason: str | None, pttl: int, now: float
) -> Hold | None:
    """The hold a key's GET and PTTL answers describe at `now` (the server's clock, `clock`), or
    None if none is in force (a key with no TTL holds nothing: metering reads only a positive
    PTTL as a hold). Its end is rounded up to the second, so doors that read it a few
    milliseconds apart give the same time."""
    if reason is None or pttl <= 0:
        return None
    return Hold(account, sender, reason, float(math.ceil(now + pttl / 1000)))


def clock(reply: Any) -> float:
    """The server's TIME reply (seconds, microseconds) as epoch seconds: the clock the holds'
    TTLs count on, whichever machine reads them."""
    seconds, micro = reply
    return int(seconds) + int(micro) / 1_000_000


class Pipeline(Protocol):
    """What `ask` needs of a (blocking or asyncio) pipeline: queued GET and PTTL."""

    def get(self, name: str) -> Any: ...

    def pttl(self, name: str) -> Any: ...


def ask(pipe: Pipeline, account: str, sender: str) -> None:
    """Queue the reads `answer` needs: the account's cooldown and its sender's hold."""
    for key in (keys.cooldown(account), keys.sender_hold(account, sender)):
        pipe.get(key)
        pipe.pttl(key)


def answer(account: str, sender: str, replies: list[Any], now: float) -> Hold | None:
    """What holds a message from `sender` on `account`, from `ask`'s four replies: of the
    account's cooldown and its sender's hold, the one that ends later (the message waits for
    both), else None."""
    both = [
        found(account, None, replies[0], int(replies[1]), now),
        found(account, sender, replies[2], int(replies[3]), now),
    ]
    holds = [h for h in both if h is not None]
    return max(holds, key=lambda h: h.until) if holds else None


Pair = tuple[str, str]  # (account, sender)


def _asked(client: redis.Redis | aredis.Redis, pairs: set[Pair]) -> tuple[Any, list[Pair]]:
    """A pipeline with `ask`'s reads queued for each pair, and the pairs in their order."""
    order = sorted(pairs)
    pipe = client.pipeline(transaction=False)
    pipe.time()
    for account, sender in order:
        ask(pipe, account, sender)
    return pipe, order


def _answers(order: list[Pair], replies: list[Any]) -> dict[Pair, Hold | None]:
    """`_asked`'s replies: the server's clock, then four per pair."""
    if not order:
        return {}
    now, rest = clock(replies[0]), replies[1:]
    return {pair: answer(*pair, rest[4 * i : 4 * i + 4], now) for i, pair in enumerate(order)}


def holding(client: redis.Redis, pairs: Iterable[Pair]) -> dict[Pair, Hold | None]:
    """What holds each (account, sender) now, in one round trip."""
    pipe, order = _asked(client, set(pairs))
    return _answers(order, pipe.execute() if order else [])


async def aholding(client: aredis.Redis, pairs: Iterable[Pair]) -> dict[Pair, Hold | None]:
    """`holding` on an asyncio client."""
    pipe, order = _asked(client, set(pairs))
    return _answers(order, await pipe.execute() if order else [])
