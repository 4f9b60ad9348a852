"""The dispatcher: meters each account's ready queues onto Celery's lanes (worker/meter.py), and
sweeps leases, lost publishes and held receipts whose hold has ended. Where callbacks can be
signed, it runs the callback sender beside it (worker/callbacks.py, a thread of its own).

It runs as a thread in every worker's main process. Metering is one atomic script per account,
so two dispatchers never take the same id twice; a message published twice is still sent once,
since every send goes through a claim. Held receipts are taken in a transaction, so two
dispatchers (or a dispatcher and the worker applying them) never both take the same receipts.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import cast

import redis
from celery import Celery

from sms import callbacks, keys
from sms.connect import sync_client
from sms.message import Lane, Status
from sms.metrics import RECEIPTS_DROPPED
from sms.providers import adapter_for
from sms.receipts import HOLD, held_of, load
from sms.settings import Settings
from sms.store import Move, Store
from worker.callbacks import CallbackSender
from worker.meter import Meter

log = logging.getLogger("salvo.dispatcher")

TAKE = 1000
IDLE = 0.1  # seconds between rounds when nothing was metered (a new message wakes it at once)
BUSY = 0.02  # seconds between rounds while work flows, so each round's tasks carry a few ids
HEARTBEAT = 5.0
LEASES_EVERY = 1.0  # seconds between looks for expired leases (a lease lasts 30 s and more)
SWEEP_EVERY = 5.0  # seconds between looks for lost publishes and for held receipts left over


class Dispatcher(threading.Thread):
    """Ready queues -> lanes (metered), expired leases -> unknown (or a safe resend), lost
    publishes -> ready again, held receipts whose hold ended -> dropped with a warning and a
    count; a heartbeat."""

    def __init__(self, app: Celery, settings: Settings, redis_url: str, name: str) -> None:
        super().__init__(name="salvo-dispatcher", daemon=True)
        self.app = app
        self.settings = settings
        self.client = sync_client(redis_url, decode_responses=True)
        self.store = Store(self.client, retention=settings.idempotency_retention)
        self.meter = Meter(app, settings, self.client, self.store)
        self.worker_name = name
        self.stopping = threading.Event()
        self._beat = 0.0
        self._swept = 0.0
        self._leases = -LEASES_EVERY  # monotonic time of the last look at the server's clock
        signed = callbacks.enabled(settings)
        self.callbacks = CallbackSender(settings, redis_url) if signed else None

    def run(self) -> None:
        if self.callbacks is not None:
            self.callbacks.start()
        while not self.stopping.is_set():
            try:
                moved = self.tick()
            except redis.RedisError as exc:
                log.warning("dispatcher: %s", exc)
                moved = 0
            except Exception:  # a dispatcher that stops would strand every waiting message
                log.exception("dispatcher round failed; trying again")
                moved = 0
            if moved:
                self.stopping.wait(BUSY)
            elif not self.stopping.is_set():
                self._idle()

    def _idle(self) -> None:
        """Wait for the next round: IDLE seconds, or less when a producer enqueues."""
        try:
            self.client.blpop([keys.WAKE], timeout=IDLE)
        except redis.RedisError:
            self.stopping.wait(IDLE)

    def tick(self) -> int:
        """One round: metering, and every LEASES_EVERY s the heartbeat (when due) and expired
        leases, every SWEEP_EVERY s lost publishes and held receipts left over. Returns how
        many ids it published or ended.

        While work flows a round is one round trip (metering every account) and the
        publishing: the sweeps look at the server's clock, which wrote the leases and dues,
        about once a second."""
        if time.monotonic() - self._leases >= LEASES_EVERY:
            self._leases = time.monotonic()
            seconds, micros = self.client.time()
            now = seconds + micros / 1e6
            if now - self._beat > HEARTBEAT:
                self.client.zadd(keys.WORKERS, {self.worker_name: now})
                self._beat = now
            self.sweep_leases(now)
            if now - self._swept > SWEEP_EVERY:
                self.sweep_lost(now)
                self.sweep_held(now)
                self._swept = now
        done = self.meter.round()
        return done.published + done.ended

    def sweep_lost(self, now: float) -> None:
        """Put back in their ready queues the metered messages whose task was lost.

        An id stays in its account's `out` set from metering until it is claimed or goes back
        to its ready queue. When its lane's queue is empty, an id still there more than
        `republish_after` seconds later, whose record is still queued, never reached a worker
        (the dispatcher died before publishing, the broker lost it in a restart) or sits in a
        dead worker's unacknowledged batch: it goes back to its ready queue, to be metered
        again. A duplicate costs nothing but a refused claim.
        """
        grace = self.settings.republish_after
        for account in self.settings.providers:
            out = keys.out(account)
            stale = cast(list[str], self.client.zrangebyscore(out, "-inf", now - grace, 0, TAKE))
            if not stale:
                continue
            pipe = self.client.pipeline(transaction=False)
            for mid in stale:
                pipe.hmget(keys.message(mid), "status", "lane")
            back: dict[str, dict[str, float]] = {}
            gone: list[str] = []
            for mid, (status, lane) in zip(stale, pipe.execute(), strict=True):
                if status == Status.QUEUED.value and lane:
                    if self.client.llen(lane) == 0:
                        back.setdefault(keys.ready(account, lane), {})[mid] = now
                else:
                    gone.append(mid)
            pipe = self.client.pipeline(transaction=True)
            for ready, ids in back.items():
                log.warning("%d metered messages of %s were lost: metered again", len(ids), account)
                pipe.zadd(ready, ids, nx=True)
                pipe.zrem(out, *ids)
            if gone:
                pipe.zrem(out, *gone)
            pipe.execute()

    def sweep_held(self, now: float) -> int:
        """Drop, with a warning and a count, the receipts still held once their hold ended."""
        return sweep_held(self.client, now)

    def sweep_leases(self, now: float) -> None:
        """A message whose lease ran out was held by a worker that died: it may have been sent."""
        expired = cast(
            list[str], self.client.zrangebyscore(keys.LEASES, "-inf", now, start=0, num=TAKE)
        )
        for mid in expired:
            fields = self.client.hmget(keys.message(mid), "account", "campaign", "lane")
            account, campaign, lane = cast(list[str | None], fields)
            if account is None:
                self.client.zrem(keys.LEASES, mid)
                continue
            acct = self.settings.providers.get(account)
            safe = acct is not None and adapter_for(acct).resend_is_safe
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
                lane=lane or Lane.BULK.value,
            )
            if not self.store.move(move):
                self.client.zrem(keys.LEASES, mid)

    def stop(self) -> None:
        """Ask the thread to end after its current round (and the callback sender with it)."""
        self.stopping.set()
        if self.callbacks is not None:
            self.callbacks.stop()


def sweep_held(client: redis.Redis, now: float, take: int = TAKE) -> int:
    """Drop the receipts held for a provider id whose hold ended by `now` (server clock): at
    most `take` provider ids. Returns how many receipts were dropped.

    A receipt is held when its provider id finds no message (sms/receipts.py); the worker that
    records that id applies it. One still held when its hold ends reports a send that was never
    recorded under that id (it ended `unknown` with no provider id learnt) or was never ours.
    Each provider id's receipts are logged in one warning (account, provider id, how many and
    their statuses) and counted in the account's stats (`receipts_dropped`).
    """
    due = cast(list[str], client.zrangebyscore(keys.HELD, "-inf", now, start=0, num=take))
    dropped = 0
    for member in due:
        try:
            account, provider_id = held_of(member)
        except (ValueError, TypeError):  # not written by hold_receipt.lua
            if client.zrem(keys.HELD, member):
                log.warning("held receipts: unreadable index entry %r removed", member)
            continue
        taken = _take_held(client, member, account, provider_id, now)
        if taken is None:
            continue
        raw, mid = taken
        if not raw:  # the list outlived its backstop TTL: no dispatcher ran for that long
            log.warning(
                "held receipts for account %s, provider id %s expired before any dispatcher "
                "took them; how many is unknown",
                account,
                provider_id,
            )
            continue
        statuses = ", ".join(_status_of(item) for item in raw)
        if mid is None:
            why = f"no message with that provider id was recorded within the hold ({HOLD} s)"
        else:  # move.lua recorded it, and the worker stopped before applying what was held
            why = f"its send was recorded (message {mid}) but they were never applied"
        log.warning(
            "dropped %d held receipt(s) for account %s, provider id %s (%s): %s",
            len(raw),
            account,
            provider_id,
            statuses,
            why,
        )
        dropped += len(raw)
    return dropped


def _take_held(
    client: redis.Redis, member: str, account: str, provider_id: str, now: float
) -> tuple[list[str], str | None] | None:
    """Take one provider id's held receipts (and our id, if its send is recorded now): delete
    them, remove their index entry and count them, in one transaction. None if another took
    them, or if a receipt was held for that id again since its hold ended (its hold starts over).
    """
    held = keys.held_receipts(account, provider_id)
    taken: tuple[list[str], str | None] | None = None

    def take(pipe: redis.client.Pipeline) -> None:
        nonlocal taken
        taken = None
        score = pipe.zscore(keys.HELD, member)
        if score is None or float(score) > now:
            return
        raw = cast(list[str], pipe.lrange(held, 0, -1))
        mid = cast(str | None, pipe.get(keys.provider_ref(account, provider_id)))
        pipe.multi()
        pipe.delete(held)
        pipe.zrem(keys.HELD, member)
        if raw:
            pipe.hincrby(keys.stats(account), RECEIPTS_DROPPED, len(raw))
        taken = raw, mid

    # WATCH the list: hold_receipt.lua and apply_held both change it; either makes it run again.
    done = cast(list[int], client.transaction(take, held))
    # An entry whose list had expired changes no watched key: only who removed it reports it.
    return taken if done and done[1] else None


def _status_of(item: str) -> str:
    """The status of a held receipt (`receipts.dump`); nothing else of it is logged."""
    try:
        return load(item).status.value
    except (ValueError, KeyError, TypeError):
        return "unreadable"
