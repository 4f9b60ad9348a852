"""The dispatcher: moves due messages from the schedule back onto their lanes, and sweeps leases.

It runs as a thread in every worker's main process. Taking due ids is one atomic script, so two
dispatchers never move the same id twice; a message published twice is still sent once, since
every send goes through a claim.
"""

from __future__ import annotations

import logging
import threading
from typing import cast

import redis
from celery import Celery

from sms import keys
from sms.connect import sync_client
from sms.message import Lane, Status
from sms.providers import adapter_for
from sms.settings import Settings
from sms.store import Move, Store
from worker.app import publish

log = logging.getLogger("salvo.dispatcher")

TAKE = 1000
IDLE = 0.2  # seconds between polls when nothing is due
HEARTBEAT = 5.0
SWEEP_EVERY = 5.0  # seconds between looks for lost publishes


class Dispatcher(threading.Thread):
    """Schedule -> lanes, expired leases -> unknown (or a safe resend), and a heartbeat."""

    def __init__(self, app: Celery, settings: Settings, redis_url: str, name: str) -> None:
        super().__init__(name="salvo-dispatcher", daemon=True)
        self.app = app
        self.settings = settings
        self.client = sync_client(redis_url, decode_responses=True)
        self.store = Store(self.client, retention=settings.idempotency_retention)
        self.worker_name = name
        self.stopping = threading.Event()
        self._beat = 0.0
        self._swept = 0.0

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                moved = self.tick()
            except redis.RedisError as exc:
                log.warning("dispatcher: %s", exc)
                moved = 0
            except Exception:  # a dispatcher that stops would strand every waiting message
                log.exception("dispatcher round failed; trying again")
                moved = 0
            if not moved:
                self.stopping.wait(IDLE)

    def tick(self) -> int:
        """One round: heartbeat, expired leases, due messages. Returns how many ids moved."""
        seconds, micros = self.client.time()
        now = seconds + micros / 1e6  # the server's clock, which wrote the leases and dues
        if now - self._beat > HEARTBEAT:
            self.client.zadd(keys.WORKERS, {self.worker_name: now})
            self._beat = now
        self.sweep_leases(now)
        if now - self._swept > SWEEP_EVERY:
            self.sweep_lost(now)
            self._swept = now
        ids = self.store.take_due(TAKE)
        if not ids:
            return 0
        by_lane: dict[str, list[str]] = {}
        for mid, lane in self.store.lanes_of(ids):
            if lane is not None:
                by_lane.setdefault(lane, []).append(mid)
        for lane in (Lane.TRANSACTIONAL.value, Lane.BULK.value):
            if by_lane.get(lane):
                publish(self.app, lane, by_lane[lane], self.settings.batch_size)
        return len(ids)

    def sweep_lost(self, now: float) -> None:
        """Publish again the queued messages whose publish was lost.

        An id stays pending from its publish until its message is claimed or goes back into
        the schedule. When a lane's queue is empty, what is still pending on that lane, and
        was published more than `republish_after` seconds ago, either never reached the broker,
        was lost with it, or sits in a batch a worker took (a live one, slowly; or a dead one,
        whose delivery the broker gives back only after its visibility timeout): publish it
        again. A duplicate costs nothing but a refused claim.
        """
        grace = self.settings.republish_after
        stale = cast(
            list[str], self.client.zrangebyscore(keys.PENDING, "-inf", now - grace, 0, TAKE)
        )
        if not stale:
            return
        pipe = self.client.pipeline(transaction=False)
        for mid in stale:
            pipe.hmget(keys.message(mid), "status", "lane")
        by_lane: dict[str, list[str]] = {}
        done: list[str] = []
        for mid, (status, lane) in zip(stale, pipe.execute(), strict=True):
            if status == Status.QUEUED.value and lane:
                by_lane.setdefault(lane, []).append(mid)
            else:
                done.append(mid)
        if done:
            self.client.zrem(keys.PENDING, *done)
        for lane, ids in by_lane.items():
            if self.client.llen(lane) == 0:
                log.warning("publishing %d queued messages again on %s: lost", len(ids), lane)
                self.client.zadd(keys.PENDING, dict.fromkeys(ids, now))
                publish(self.app, lane, ids, self.settings.batch_size)

    def sweep_leases(self, now: float) -> None:
        """A message whose lease ran out was held by a worker that died: it may have been sent."""
        expired = cast(
            list[str], self.client.zrangebyscore(keys.LEASES, "-inf", now, start=0, num=TAKE)
        )
        for mid in expired:
            fields = self.client.hmget(keys.message(mid), "account", "campaign")
            account, campaign = cast(list[str | None], fields)
            if account is None:
                self.client.zrem(keys.LEASES, mid)
                continue
            acct = self.settings.providers.get(account)
            safe = acct is not None and (
                adapter_for(acct).idempotent_resend or acct.on_unknown == "resend"
            )
            reason = "worker died while sending"
            move = Move(
                mid,
                account,
                campaign or None,
                Status.SENDING,
                Status.QUEUED if safe else Status.UNKNOWN,
                f"{reason}; resending" if safe else reason,
                count_attempt=True,
                due=now if safe else None,
            )
            if not self.store.move(move):
                self.client.zrem(keys.LEASES, mid)

    def stop(self) -> None:
        """Ask the thread to end after its current round."""
        self.stopping.set()
