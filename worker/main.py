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
    @signals.worker_shutdown.connect(weak=False)
    def _close_runtime(**_: Any) -> None:
        runtime.shutdown()

    app.worker_main(argv=worker_argv(settings, celery_args))


def worker_argv(settings: Settings, celery_args: Sequence[str]) -> list[str]:
    """Celery's arguments: the user's, with Salvo's defaults where the user gave none.

    The pool is `threads`: each pool thread hands its batch to the process's one event loop
    (worker/runtime.py), so one process sends from `worker_concurrency` batches at once and its
    calls in flight are bounded by each account's `max_in_flight`. A process runs Python on one
    core at a time: run one `salvo worker` per core (or more replicas) to use more.

    Celery's worker events are off too (`--without-heartbeat --without-gossip
    --without-mingle`): nothing of Salvo reads them (workers count each other through the
    dispatchers' own heartbeats in Redis, sms/keys.py `WORKERS`), and with a Redis broker every
    worker otherwise publishes a heartbeat every two seconds that every other worker receives
    and decodes.
    """
    argv = ["worker", *celery_args]

    def given(*names: str) -> bool:
        return any(a in names or a.startswith(tuple(f"{n}=" for n in names)) for a in celery_args)

    if not given("-Q", "--queues"):
        argv += ["-Q", "transactional,bulk"]
    if not given("-P", "--pool"):
        argv += ["--pool", "threads"]
    if not given("-c", "--concurrency"):
        argv += ["--concurrency", str(settings.worker_concurrency)]
    for flag in ("--without-heartbeat", "--without-gossip", "--without-mingle"):
        if not given(flag):
            argv.append(flag)
    return argv
