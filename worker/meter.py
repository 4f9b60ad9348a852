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
from sms.settings import Account, Settings
from sms.store import MeterLimits, Move, Store
from worker.app import publish
from worker.pacing import REFRESH, account_limit

log = logging.getLogger("salvo.dispatcher")

#: The most ids metered onto Celery's queues and not yet claimed, per account, whatever its rate.
MAX_OUT = 2000
#: Below that, an account whose rate is no limit has at most this many times the calls its
#: workers can hold in flight metered out: enough that the next ids are there when a call
#: ends, few enough that a reminder metered now is not queued behind a second of bulk.
IN_FLIGHT_LEAD = 2
ALIVE = 30.0  # seconds since its last heartbeat within which a worker counts
#: The most ids one meter step takes.
MAX_TAKE = 1000


def worker_share(account: Account) -> int:
    """How many of the account's metered, unclaimed ids one worker process should hold: its
    part of the lead metering keeps out (IN_FLIGHT_LEAD of its calls in flight). A process
    that holds more gives the rest back (worker/batch.py), so that a busy worker does not sit
    on work another could start at once."""
    return IN_FLIGHT_LEAD * account.max_in_flight


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
        self._workers = (1, 0.0)  # workers alive, and when that was read (monotonic)

    def limits(self, account: str) -> MeterLimits:
        """The account's meter limits now: its bucket (configured, lowered by what it learnt),
        and no more out at once than its workers' calls in flight can take up."""
        acct = self.settings.providers[account]
        limit = account_limit(acct, self._learnt_state(account))
        lead = self._alive() * worker_share(acct)
        return MeterLimits(
            rate=limit.rate,
            burst=limit.burst,
            horizon=self.settings.meter_horizon,
            transactional_share=acct.transactional_share,
            max_out=(out := min(MAX_OUT, max(self.settings.batch_size, lead))),
            max_take=MAX_TAKE,
            min_bulk=min(self.settings.batch_size, out // 4),
        )

    def _alive(self) -> int:
        """Workers seen in the last ALIVE seconds (their heartbeats), read at most every second."""
        count, read = self._workers
        now = time.monotonic()
        if now - read > 1.0:
            seconds, micros = self.client.time()
            since = seconds + micros / 1e6 - ALIVE
            count = max(1, int(self.client.zcount(keys.WORKERS, since, "+inf")))
            self._workers = (count, now)
        return count

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
        """Meter every account once, in one round trip: publish what may go, end what must
        not (in one more round trip, when there is any)."""
        done = MeterRound()
        accounts = list(self.settings.providers)
        metered = self.store.meter_many([(a, self.limits(a)) for a in accounts])
        ends: list[Move] = []
        for account, found in zip(accounts, metered, strict=True):
            for lane, ids in ((Lane.TRANSACTIONAL, found.transactional), (Lane.BULK, found.bulk)):
                if ids:
                    publish(self.app, account, lane.value, ids, self.settings.batch_size)
                    done.published += len(ids)
            ends += [
                Move(mid, account, campaign, Status.QUEUED, status, why)
                for status, why, pairs in (
                    (Status.CANCELLED, "campaign cancelled", found.cancelled),
                    (Status.EXPIRED, "expired before it could be sent", found.expired),
                )
                for mid, campaign in pairs
            ]
        done.ended += sum(self.store.move_many(ends))
        return done
