"""Per-provider state (counters, arrivals, limit windows, idempotency) and the shared ledger."""

from __future__ import annotations

import random
from bisect import bisect_right
from typing import Any

from sandbox.formats import digits
from sandbox.ratelimit import Limit, SlidingWindow

FAULT_KEYS = {
    "fault_5xx": "5xx",
    "reset_before": "reset_before",
    "reset_after": "reset_after",
    "timeout_before": "timeout_before",
    "timeout_after": "timeout_after",
}
COUNTER_FOR = {
    "accepted": "accepted",
    "rejected": "rejected",
    "auth_failed": "auth_failed",
    "rate_limited": "rate_limited",
    "quota_exceeded": "quota_exceeded",
    "idempotent_replay": "idempotent_replays",
}
COUNTERS = (
    "requests",
    "accepted",
    "rejected",
    "rate_limited",
    "quota_exceeded",
    "auth_failed",
    "idempotent_replays",
    "receipts_sent",
    "receipt_errors",
    "inbound_sent",
    "inbound_errors",
)


class Message:
    """One accepted message: what the ledger reports plus the provider's own object."""

    __slots__ = (
        "account",
        "body",
        "id",
        "media",
        "obj",
        "provider",
        "received_at",
        "request",
        "sender",
        "seq",
        "status",
        "to",
    )

    def __init__(
        self,
        provider: str,
        account: str,
        msg_id: str,
        to: str,
        sender: str,
        body: str,
        media: list[str],
        received_at: float,
        request: dict[str, Any],
        obj: dict[str, Any],
    ) -> None:
        self.seq = 0
        self.provider = provider
        self.account = account
        self.id = msg_id
        self.to = to
        self.sender = sender
        self.body = body
        self.media = media
        self.received_at = received_at
        self.request = request
        self.obj = obj
        self.status = "queued"

    def entry(self) -> dict[str, Any]:
        """The ledger entry for the control API."""
        return {
            "seq": self.seq,
            "provider": self.provider,
            "account": self.account,
            "id": self.id,
            "to": self.to,
            "from": self.sender,
            "body": self.body,
            "media": self.media,
            "received_at": self.received_at,
            "request": self.request,
        }


class Ledger:
    """Accepted messages of all providers in arrival order, numbered by `seq` from 1."""

    def __init__(self, providers: tuple[str, ...]) -> None:
        self.entries: list[Message] = []
        self.by_provider: dict[str, list[Message]] = {p: [] for p in providers}

    def add(self, msg: Message) -> None:
        """Append an accepted message and give it the next seq."""
        msg.seq = len(self.entries) + 1
        self.entries.append(msg)
        self.by_provider[msg.provider].append(msg)

    def page(self, provider: str | None, since: int, limit: int) -> tuple[list[Message], int]:
        """Entries with seq > since (at most `limit`) and the seq to pass as the next `since`."""
        if provider is None:
            start = max(0, since)
            chunk = self.entries[start : start + limit]
        else:
            source = self.by_provider[provider]
            start = bisect_right(source, since, key=lambda m: m.seq)
            chunk = source[start : start + limit]
        return chunk, (chunk[-1].seq if chunk else since)

    def clear(self) -> None:
        """Forget every entry."""
        self.entries.clear()
        for entries in self.by_provider.values():
            entries.clear()


class ProviderState:
    """Mutable state of one provider: config-derived settings, counters, windows, stores."""

    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.configure(config, reseed=True)
        self.clear()

    def configure(self, config: dict[str, Any], *, reseed: bool) -> None:
        """Apply a (validated) config; cache hot values as attributes."""
        self.config = config
        self.rate = Limit.parse(config["rate_limit"])
        self.quota = Limit.parse(config["quota"])
        self.p_before = [
            (k, float(config[k])) for k in ("fault_5xx", "reset_before", "timeout_before")
        ]
        self.p_after = [(k, float(config[k])) for k in ("reset_after", "timeout_after")]
        self.latency = float(config["latency_ms"]) / 1000
        self.jitter = float(config["latency_jitter_ms"]) / 1000
        self.hang_seconds = float(config["hang_seconds"])
        self.receipts: dict[str, Any] = config["receipts"]
        self.callback_url: str | None = config["callback_url"]
        senders = config["senders"]
        self.senders = None if senders is None else frozenset(digits(s) for s in senders)
        if reseed:
            self.rng = random.Random(config["seed"])

    def clear(self) -> None:
        """Forget counters, arrivals, limit windows, idempotency keys and messages."""
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.faults = dict.fromkeys(FAULT_KEYS.values(), 0)
        self.arrivals: list[list[Any]] = []
        self.rate_windows: dict[str, SlidingWindow] = {}
        self.quota_windows: dict[str, SlidingWindow] = {}
        self.idempotency: dict[tuple[str, str], Any] = {}
        self.messages: dict[str, Message] = {}
        self.rng = random.Random(self.config["seed"])

    def count(self, outcome: str) -> None:
        """Add one to the counter(s) an outcome belongs to."""
        fault = FAULT_KEYS.get(outcome)
        if fault is None:
            self.counters[COUNTER_FOR[outcome]] += 1
            return
        self.faults[fault] += 1
        if outcome in ("reset_after", "timeout_after"):
            self.counters["accepted"] += 1

    def roll(self, table: list[tuple[str, float]]) -> str | None:
        """Draw the faults of `table` in order; return the first that fires."""
        for kind, p in table:
            if p > 0 and self.rng.random() < p:
                return kind
        return None

    def delay(self) -> float:
        """Seconds to wait before answering (latency plus uniform jitter)."""
        if self.jitter:
            return self.latency + random.random() * self.jitter
        return self.latency

    def window(self, store: dict[str, SlidingWindow], identity: str) -> SlidingWindow:
        """The window of one credential in `store`, created on first use."""
        win = store.get(identity)
        if win is None:
            win = store[identity] = SlidingWindow()
        return win

    def stats(self) -> dict[str, Any]:
        """Counters in the control API's shape."""
        out: dict[str, Any] = dict(self.counters)
        out["faults"] = dict(self.faults)
        return out
