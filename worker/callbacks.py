"""The callback sender: posts the status-callback events (sms/callbacks.py) to the customers'
URLs, signed, until each is answered 2xx, with exponential backoff, for
`status_webhook_max_age` seconds; then it is dropped, logged and counted.

It runs as a thread of the worker's main process beside the dispatcher, with an event loop,
an aiohttp session and a Redis client of its own, never on the send path: a slow or dead URL
costs its own sockets (at most `status_webhook_concurrency` POSTs in flight, each within
`status_webhook_timeout`), never a send's slot. Events are taken from `keys.HOOKS_DUE` by
hooks_take.lua, which moves each one's next try to the end of the claim: a sender that dies
mid-POST leaves it due again, and any worker's sender posts it then. So every event is posted
at least once, and possibly more (a receiver deduplicates by the event's `id`).

Counters, per account (`keys.stats`): `callbacks:delivered`, `callbacks:failed` (a try that
failed and will be retried), `callbacks:dropped`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import aiohttp
import redis
import redis.asyncio as aredis

from sms import callbacks, keys
from sms.connect import async_client
from sms.metrics import callback_field
from sms.settings import Settings
from sms.store import lua

log = logging.getLogger("salvo.callbacks")

TAKE = lua("hooks_take.lua")
IDLE = 0.2  # seconds between looks when nothing is due
CLAIM_MARGIN = 30.0  # seconds a claim outlives its POST's timeout

DELIVERED = callback_field("delivered")
FAILED = callback_field("failed")
DROPPED = callback_field("dropped")


class CallbackSender(threading.Thread):
    """Due events -> POSTs, in a thread of its own."""

    def __init__(self, settings: Settings, redis_url: str) -> None:
        super().__init__(name="salvo-callbacks", daemon=True)
        self.settings = settings
        self.redis_url = redis_url
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception:  # logged, not raised: sending goes on without callbacks
            log.exception("callback sender stopped")

    def stop(self) -> None:
        """Ask the thread to end: POSTs in flight are abandoned, and their events are posted
        again once their claim ends."""
        self.stopping.set()

    async def _serve(self) -> None:
        client = async_client(self.redis_url, decode_responses=True)
        timeout = aiohttp.ClientTimeout(total=self.settings.status_webhook_timeout)
        connector = aiohttp.TCPConnector(limit=self.settings.status_webhook_concurrency)
        session = aiohttp.ClientSession(timeout=timeout, connector=connector)
        poster = Poster(self.settings, client, session)
        try:
            await poster.serve(self.stopping)
        finally:
            await session.close()
            await client.aclose()


class Poster:
    """Takes due events and posts them, at most `status_webhook_concurrency` at once."""

    def __init__(
        self, settings: Settings, client: aredis.Redis, session: aiohttp.ClientSession
    ) -> None:
        self.settings = settings
        self.client = client
        self.session = session
        self.take_script = client.register_script(TAKE)
        self.limit = settings.status_webhook_concurrency
        self.claim = settings.status_webhook_timeout + CLAIM_MARGIN

    async def serve(self, stopping: threading.Event) -> None:
        """Post until `stopping` is set."""
        flying: set[asyncio.Task[None]] = set()
        try:
            while not stopping.is_set():
                taken = 0
                if len(flying) < self.limit:
                    try:
                        batch = await self.take(self.limit - len(flying))
                    except redis.RedisError as exc:
                        log.warning("callbacks: %s", exc)
                        batch = []
                    for event_id, raw, tries, now in batch:
                        task = asyncio.create_task(self.guarded(event_id, raw, tries, now))
                        flying.add(task)
                        task.add_done_callback(flying.discard)
                    taken = len(batch)
                if flying and (taken == 0 or len(flying) >= self.limit):
                    await asyncio.wait(flying, timeout=IDLE, return_when=asyncio.FIRST_COMPLETED)
                elif taken == 0:
                    await asyncio.sleep(IDLE)
        finally:
            for task in flying:
                task.cancel()
            await asyncio.gather(*flying, return_exceptions=True)

    async def take(self, n: int) -> list[tuple[str, str, int, float]]:
        """Up to `n` due events, claimed: (id, stored JSON, tries, the server's time)."""
        flat: list[Any] = await self.take_script(
            keys=[keys.HOOKS_DUE, keys.HOOKS, keys.HOOKS_TRIES], args=[n, self.claim]
        )
        now = float(flat[0])
        return [
            (str(flat[i]), str(flat[i + 1]), int(flat[i + 2]), now) for i in range(1, len(flat), 3)
        ]

    async def guarded(self, event_id: str, raw: str, tries: int, now: float) -> None:
        """`post`, its failures logged: an event not settled is posted again when its claim
        ends."""
        try:
            await self.post(event_id, raw, tries, now)
        except redis.RedisError as exc:
            log.warning("callback %s: %s; posted again when its claim ends", event_id, exc)
        except Exception:
            log.exception("callback %s failed; posted again when its claim ends", event_id)

    async def post(self, event_id: str, raw: str, tries: int, now: float) -> None:
        """Post one event; settle it: delivered, retried after a backoff, or dropped."""
        started = time.monotonic()
        try:
            stored = callbacks.stored(raw)
        except ValueError:
            log.error("callback event %s is unreadable: dropped", event_id)
            await self.settle(event_id, "", DROPPED)
            return
        secret = callbacks.secret_for(self.settings, stored.account)
        if secret is None:
            log.error(
                "callback event %s: no status_webhook_secret for account %r: dropped",
                event_id,
                stored.account,
            )
            await self.settle(event_id, stored.account, DROPPED)
            return
        body = stored.event(event_id).body()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Salvo-Callbacks",
            callbacks.SIGNATURE_HEADER: callbacks.sign(secret, body, int(time.time())),
            "Salvo-Event-Id": event_id,
        }
        why = ""
        try:
            post = self.session.post(stored.url, data=body, headers=headers, allow_redirects=False)
            async with post as answer:  # a redirect is not an answer: tried again later
                await answer.read()
                if 200 <= answer.status < 300:
                    await self.settle(event_id, stored.account, DELIVERED)
                    return
                why = f"answered {answer.status}"
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        at = now + (time.monotonic() - started)  # the server's clock, moved on by the POST
        if at - stored.at >= self.settings.status_webhook_max_age:
            log.warning(
                "callback %s to %s dropped after %d tries over %.0f s: %s",
                event_id,
                stored.url,
                tries,
                at - stored.at,
                why,
            )
            await self.settle(event_id, stored.account, DROPPED)
            return
        wait = callbacks.backoff(tries, self.settings.status_webhook_backoff)
        log.info("callback %s to %s failed (%s): again in %.1f s", event_id, stored.url, why, wait)
        await self.retry(event_id, stored.account, at + wait)

    async def settle(self, event_id: str, account: str, outcome: str) -> None:
        """The event is done with (delivered or dropped): gone from Redis, counted."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(keys.HOOKS_DUE, event_id)
        pipe.hdel(keys.HOOKS, event_id)
        pipe.hdel(keys.HOOKS_TRIES, event_id)
        if account:
            pipe.hincrby(keys.stats(account), outcome, 1)
        await pipe.execute()

    async def retry(self, event_id: str, account: str, due: float) -> None:
        """Try the event again at `due`, unless another sender delivered it meanwhile (then
        it is no longer in the due set: `XX` adds nothing)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(keys.HOOKS_DUE, {event_id: due}, xx=True)
        pipe.hincrby(keys.stats(account), FAILED, 1)
        await pipe.execute()
