"""The Celery task: one account's metered ids, handed to the process's event loop.

Each pool thread that runs a task waits for its batch while the loop sends it beside every
other batch the process holds."""

from __future__ import annotations

import logging

import redis
from celery import Celery
from celery.exceptions import Reject

from worker import runtime
from worker.app import SEND_BATCH
from worker.batch import process_batch

log = logging.getLogger("salvo.worker")


def register(app: Celery) -> None:
    """Define Salvo's tasks on `app`."""

    @app.task(name=SEND_BATCH, bind=False, acks_late=True, reject_on_worker_lost=True)
    def send_batch(account: str, lane: str, ids: list[str]) -> None:
        rt = runtime.current()
        try:
            result = rt.run(process_batch(rt, account, lane, ids))
        except redis.RedisError as exc:
            # The records could not be read or written: the batch goes back whole. What it
            # had claimed and sent is recorded, or left to the lease sweeper as unknown.
            log.warning("batch of %d goes back to its queue: %s", len(ids), exc)
            raise Reject(str(exc), requeue=True) from exc
        log.debug("batch of %d: %s", len(ids), dict(result.statuses))
