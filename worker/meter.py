"""Metering: each account's waiting work onto Celery's queues, no faster than it can be sent.

Messages wait in Redis, in their account's ready queues (sms/keys.py `ready`), by due time.
Every dispatcher meters every configured account each round: one atomic step (sms/lua/meter.lua)
takes what the account can send over the next `meter_horizon` seconds, transactional first,
skipping a cooling account and holding back a held sender's messages, and this module publishes
those ids as Celery tasks of one account and lane each. So Celery's queues hold only work that
can be sent now: a slow account's blast waits in Redis, where pause, cancel and expiry see it,
and never takes a worker's slot from another account or from a reminder.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import cast

import redis
from celery import Celery

from sms import keys
from sms.learning import Learnt
from sms.message import Lane, Status
from sms.settings import Settings
from sms.store import MeterLimits, Move, Store
from worker.app import publish
from worker.pacing import REFRESH, account_limit

log = logging.getLogger("salvo.dispatcher")

#: The most ids metered onto Celery's queues and not yet claimed, per account: enough to keep
#: every worker's calls in flight busy for a second at loopback speeds, few enough that a pause
#: or cancel overtakes them within a second.
MAX_OUT = 2000
#: The most ids one meter step takes.
MAX_TAKE = 1000


@dataclass
class MeterRound:
    """What one round of metering did, for the dispatcher's pacing and for tests."""

    published: int = 0
    ended: int = 0


class Meter:
    """Meters every configured account onto Celery's lanes."""

    def __init__(self, app: Celery, settings: Settings, client: redis.Redis, store: Store) -> None:
        self.app = app
        self.settings = settings
        self.client = client
        self.store = store
        self._learnt: dict[str, tuple[Learnt, float]] = {}

    def limits(self, account: str) -> MeterLimits:
        """The account's meter limits now: its bucket (configured, lowered by what it learnt)."""
        acct = self.settings.providers[account]
        limit = account_limit(acct, self._learnt_state(account))
        return MeterLimits(
            rate=limit.rate,
            burst=limit.burst,
            horizon=self.settings.meter_horizon,
            transactional_share=acct.transactional_share,
            max_out=MAX_OUT,
            max_take=MAX_TAKE,
        )

    def _learnt_state(self, account: str) -> Learnt:
        now = time.monotonic()
        cached = self._learnt.get(account)
        if cached is not None and now - cached[1] < REFRESH:
            return cached[0]
        raw = cast(dict[str, str], self.client.hgetall(keys.learnt_rate(account)))
        state = Learnt.from_hash(raw, self.settings.providers[account].rate)
        self._learnt[account] = (state, now)
        return state

    def round(self) -> MeterRound:
        """Meter every account once: publish what may go, end what must not."""
        done = MeterRound()
        for account in self.settings.providers:
            metered = self.store.meter(account, self.limits(account))
            for lane, ids in (
                (Lane.TRANSACTIONAL, metered.transactional),
                (Lane.BULK, metered.bulk),
            ):
                if ids:
                    publish(self.app, account, lane.value, ids, self.settings.batch_size)
                    done.published += len(ids)
            ends = [
                Move(mid, account, campaign, Status.QUEUED, status, why)
                for status, why, pairs in (
                    (Status.CANCELLED, "campaign cancelled", metered.cancelled),
                    (Status.EXPIRED, "expired before it could be sent", metered.expired),
                )
                for mid, campaign in pairs
            ]
            done.ended += sum(self.store.move_many(ends))
        return done
