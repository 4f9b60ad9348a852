"""`salvo worker`: a Celery worker with Salvo's app, tasks and dispatcher."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from celery import signals

from sms.settings import Settings
from worker import runtime, tasks
from worker.app import make_app
from worker.dispatcher import Dispatcher

log = logging.getLogger("salvo.worker")


def run(settings: Settings, redis_url: str, celery_args: Sequence[str]) -> None:
    """Run a worker in the foreground; `celery_args` are passed to Celery as they are."""
    app = make_app(redis_url)
    tasks.register(app)
    runtime.configure(settings, redis_url)
    holder: dict[str, Dispatcher] = {}

    @signals.worker_ready.connect(weak=False)
    def _start_dispatcher(sender: Any = None, **_: Any) -> None:
        name = f"{getattr(sender, 'hostname', 'worker')}:{os.getpid()}"
        holder["d"] = Dispatcher(app, settings, redis_url, name)
        holder["d"].start()

    @signals.worker_shutting_down.connect(weak=False)
    def _stop_dispatcher(**_: Any) -> None:
        if "d" in holder:
            holder["d"].stop()

    @signals.worker_process_shutdown.connect(weak=False)
    def _close_runtime(**_: Any) -> None:
        runtime.shutdown()

    argv = ["worker", *celery_args]
    if not any(a == "-Q" or a.startswith("--queues") for a in celery_args):
        argv += ["-Q", "transactional,bulk"]
    app.worker_main(argv=argv)
