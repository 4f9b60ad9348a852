"""The Celery task: a batch of message ids, run on the process's own event loop."""

from __future__ import annotations

import logging

from celery import Celery

from worker import runtime
from worker.app import SEND_BATCH
from worker.batch import process_batch

log = logging.getLogger("salvo.worker")


def register(app: Celery) -> None:
    """Define Salvo's tasks on `app`."""

    @app.task(name=SEND_BATCH, bind=False, acks_late=True, reject_on_worker_lost=True)
    def send_batch(ids: list[str]) -> None:
        rt = runtime.current()
        result = rt.run(process_batch(rt, ids))
        log.debug("batch of %d: %s", len(ids), dict(result.statuses))
