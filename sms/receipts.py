"""Delivery receipts: where providers post them, how each is read, and how it moves a message.

A message's status only moves forward (`RANK`): a duplicate, a late "sent" after "delivered" or
anything after a terminal status changes nothing. A receipt finds its message by the provider's
id (recorded when the send was accepted) or by our own id where the receipt carries it, which
is how an `unknown` message (sent, but no answer came back) is resolved. The move, its history
line, the campaign's counts and the account's stats change together in sms/lua/receipt.lua.

A receipt can overtake the worker's record of the send it reports: the provider answered, and
posted a receipt before the worker wrote the provider's id. Such a receipt is held (for `HOLD`
seconds) under that provider id, in one step with a last look for it (hold_receipt.lua); the
worker that then records the id hears so from move.lua and applies what is held. Each provider id
with receipts held is indexed in `keys.HELD` by when its hold ends: receipts still held then
(their send was never recorded, or they were never ours) are dropped by the dispatcher, with a
warning and a count (`sweep_held` in worker/dispatcher.py), never silently.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal
from urllib.parse import quote

import redis.asyncio as aredis

from sms import keys
from sms.message import Status
from sms.providers.base import Receipt
from sms.settings import JustCallAccount, Settings
from sms.store import HOOKS, lua

#: How far along a status is; a receipt applies only if it moves the rank up. Rank 3 is final.
RANK: dict[Status, int] = {
    Status.QUEUED: 0,
    Status.SENDING: 1,
    Status.UNKNOWN: 1,
    Status.SENT: 2,
    Status.DELIVERED: 3,
    Status.UNDELIVERED: 3,
    Status.FAILED: 3,
    Status.EXPIRED: 3,
    Status.CANCELLED: 3,
    Status.SUPPRESSED: 3,
}

RECEIPT = HOOKS + lua("receipt.lua")
HOLD_RECEIPT = lua("hold_receipt.lua")
#: Seconds a receipt that found no message is held for the send it reports to be recorded.
HOLD = 3600
#: TTL of a list of held receipts: only a backstop, so that a deployment with no dispatcher
#: running does not keep them for ever. The dispatcher takes a list once its hold has ended
#: (within seconds); the day past the hold lets a dispatcher that was down (a deploy, an outage)
#: still find, log and count them, where an expiry would drop them unseen.
KEEP_HELD = HOLD + 86400
_RANKS = json.dumps({status.value: rank for status, rank in RANK.items()})


def receipt_url(settings: Settings, account_name: str, message_id: str | None = None) -> str | None:
    """Where a provider should post this account's receipts; None when nothing could accept them.

    `{public_url}/v1/receipts/{account}/{receipt_secret}`; without the secret segment for a
    JustCall account with signed webhooks and no secret. For JustCall, whose per-message
    `webhook_url` can carry it, our message id rides along as `?m=` so that a receipt can
    resolve a message whose send answer never came back.
    """
    account = settings.providers.get(account_name)
    if not settings.public_url or account is None:
        return None
    url = f"{settings.public_url.rstrip('/')}/v1/receipts/{quote(account_name, safe='')}"
    if account.receipt_secret is not None:
        url += "/" + quote(account.receipt_secret.get_secret_value(), safe="")
    elif not (isinstance(account, JustCallAccount) and account.signed_webhooks):
        return None
    if message_id and account.kind == "justcall":
        url += f"?m={quote(message_id, safe='')}"
    return url


@dataclass(frozen=True, slots=True)
class Applied:
    """What a receipt did: moved the message, found it already there or past (stale), or
    found no message of this account (unmatched), or held it until the send it reports is
    recorded (held)."""

    outcome: Literal["moved", "stale", "unmatched", "held"]
    message_id: str | None = None
    before: str | None = None  # the status the message was in
    after: str | None = None  # the status it is in now


class ReceiptStore:
    """Applies receipts to message records, on the API's event loop."""

    def __init__(self, client: aredis.Redis, *, retention: int) -> None:
        self.redis = client
        self.retention = retention
        self._script = client.register_script(RECEIPT)
        self._hold = client.register_script(HOLD_RECEIPT)

    async def find(self, account: str, receipt: Receipt) -> tuple[str | None, bool]:
        """Our message id for a receipt, and whether it was found by our id (not the provider's)."""
        if receipt.provider_id:
            mid = await self.redis.get(keys.provider_ref(account, receipt.provider_id))
            if mid:
                return str(mid), False
        if receipt.our_id:
            return receipt.our_id, True
        return None, False

    async def apply(self, account: str, receipt: Receipt) -> Applied:
        """Move the receipt's message forward if the receipt's status is ahead of it."""
        mid, by_our_id = await self.find(account, receipt)
        if mid is None and receipt.provider_id:
            ref = keys.provider_ref(account, receipt.provider_id)
            held = keys.held_receipts(account, receipt.provider_id)
            found = await self._hold(
                keys=[ref, held, keys.HELD],
                args=[dump(receipt), HOLD, held_member(account, receipt.provider_id), KEEP_HELD],
            )
            if not found:
                return Applied("held")
            mid = str(found)  # recorded since find() looked: apply it now
        if mid is None:
            return Applied("unmatched")
        record = keys.message(mid)
        campaign = str(await self.redis.hget(record, "campaign") or "")
        counts = keys.campaign_counts(campaign) if campaign else record
        # Found by our id: remember the provider's id too, so later receipts find it directly.
        new_ref = receipt.provider_id if by_our_id and receipt.provider_id else ""
        ref = keys.provider_ref(account, new_ref) if new_ref else record
        args = [
            mid,
            account,
            receipt.status.value,
            f"receipt: {receipt.reason}" if receipt.reason else "receipt",
            new_ref,
            str(self.retention),
            "1" if campaign else "0",
            _RANKS,
            "" if receipt.at is None else repr(receipt.at),
            campaign,
        ]
        k = [record, keys.LEASES, counts, ref, keys.stats(account), keys.UNKNOWN]
        k += [keys.HOOKS, keys.HOOKS_DUE, keys.campaign(campaign) if campaign else record]
        answer, status = await self._script(keys=k, args=args)
        if answer == "moved":
            return Applied("moved", mid, str(status), receipt.status.value)
        if answer == "stale":
            return Applied("stale", mid, str(status), str(status))
        return Applied("unmatched")  # no such record, or another account's

    async def apply_held(self, account: str, provider_id: str) -> list[Applied]:
        """Apply the receipts held for a provider id the worker has just recorded."""
        held = keys.held_receipts(account, provider_id)
        pipe = self.redis.pipeline(transaction=True)  # take them all, once, and their index entry
        pipe.lrange(held, 0, -1)
        pipe.delete(held)
        pipe.zrem(keys.HELD, held_member(account, provider_id))
        raw, _, _ = await pipe.execute()
        return [await self.apply(account, load(item)) for item in raw]


def held_member(account: str, provider_id: str) -> str:
    """A provider id's member in the index of held receipts (`keys.HELD`): JSON, so that the
    account and the provider id come back whole whatever they contain (':' included)."""
    return json.dumps([account, provider_id])


def held_of(member: str) -> tuple[str, str]:
    """The account and provider id of a member of `keys.HELD` (`held_member`)."""
    account, provider_id = json.loads(member)
    return str(account), str(provider_id)


def dump(receipt: Receipt) -> str:
    """A receipt as JSON, to hold it in Redis."""
    return json.dumps(asdict(receipt))


def load(text: str) -> Receipt:
    """A receipt held by `dump`."""
    data = json.loads(text)
    return Receipt(**{**data, "status": Status(data["status"])})
