"""Holds: what a provider's answer pauses for every worker, and no more than that.

A rate-limit or quota answer, or a credential error, holds the whole account (its cooldown key,
which metering and the token buckets read); a sender-scoped error (a from number the provider
does not know or has not enabled) holds only that (account, sender) pair, so the account's
other senders, and every reminder through them, keep going. Each hold is a Redis key with a TTL
whose value says why; the longer of two holds wins (sms/lua/cooldown.lua).
"""

from __future__ import annotations

import redis.asyncio as aredis

from sms import keys
from sms.message import Message
from sms.store import lua
from worker.actions import Action

COOL_DOWN = lua("cooldown.lua")


class Holds:
    """Sets account cooldowns and sender holds for every worker."""

    def __init__(self, client: aredis.Redis) -> None:
        self._script = client.register_script(COOL_DOWN)

    @staticmethod
    def key(msg: Message, action: Action) -> str:
        """The key the action's hold sets: the account's cooldown, or its sender's hold."""
        if action.scope == "sender":
            return keys.sender_hold(msg.account, msg.sender)
        return keys.cooldown(msg.account)

    def describe(self, msg: Message, action: Action) -> str:
        """What a hold concerns, for the log."""
        if action.scope == "sender":
            return f"account {msg.account}, sender {msg.sender}"
        return f"account {msg.account}"

    async def apply(self, msg: Message, action: Action) -> None:
        """Set the hold `action` calls for, if any."""
        if action.cooldown:
            await self.hold(self.key(msg, action), action.cooldown, action.reason)

    async def hold(self, key: str, seconds: float, reason: str) -> None:
        """Hold `key` for `seconds` with `reason`; a longer hold already set is kept."""
        ms = max(1, int(seconds * 1000))
        await self._script(keys=[key], args=[reason, ms])
