"""`salvo worker`: a Celery worker with Salvo's app, tasks and dispatcher.

A prefork pool child makes its runtime (worker/runtime.py) as it starts (Celery's
`worker_process_init`), so a child that cannot send fails at once rather than on its first
task. It then says why on a pipe the worker's main process reads (`StartFailures`), and exits;
the main process logs it, stops (a warm shutdown: what other children hold finishes) and
`salvo worker` exits non-zero with that reason. Without this, billiard restarts failing
children until it gives up and sends its own process SIGTERM, which Celery takes for an
operator's stop: exit status 0, and a supervisor that restarts on failure would not.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import click
from celery import Celery, signals

from sms.errors import SalvoError
from sms.settings import Settings
from worker import runtime, tasks
from worker.app import make_app
from worker.dispatcher import Dispatcher

log = logging.getLogger("salvo.worker")

#: The exit status of a pool child that could not start.
EX_CHILD_START = 3


class WorkerStartError(SalvoError):
    """The worker stopped on an error: a pool process could not start, or Celery's worker
    ended on one it could not recover from."""


class StartFailures:
    """A pipe from pool children to the main process: each child that cannot start writes
    one line (below PIPE_BUF, so lines never interleave); a thread in the main process reads
    them and stops the worker at the first."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()  # inherited by every child forked from here
        self.first: str | None = None

    def report(self, message: str) -> None:
        """In a child: say why it cannot start."""
        line = " ".join(message.split())[:500] + "\n"
        with contextlib.suppress(OSError):  # the main process is gone: nobody to tell
            os.write(self._write, line.encode("utf-8", "replace"))

    def watch(self) -> None:
        """In the main process: on the first report, log it and stop the worker; read (and
        drop) the reports of the children started meanwhile, until the process ends."""

        def read() -> None:
            with os.fdopen(self._read, "rb") as pipe:
                for line in pipe:
                    if self.first is None:
                        self.first = line.decode("utf-8", "replace").strip()
                        log.critical("%s; stopping the worker", self.first)
                        os.kill(os.getpid(), signal.SIGTERM)  # Celery's warm shutdown

        threading.Thread(target=read, name="salvo-start-failures", daemon=True).start()


def run(settings: Settings, redis_url: str, celery_args: Sequence[str]) -> None:
    """Run a worker in the foreground; `celery_args` are passed to Celery as they are. Exits
    with Celery's exit status when it is not 0; raises WorkerStartError when a pool process
    could not start."""
    app = make_app(redis_url)
    tasks.register(app)
    runtime.configure(settings, redis_url)
    holder: dict[str, Dispatcher] = {}
    failures = StartFailures()

    @signals.worker_process_init.connect(weak=False)
    def _start_runtime(**_: Any) -> None:
        # A prefork child: make its runtime now, and if it cannot be made, say why and exit.
        try:
            runtime.current()
        except Exception as exc:
            message = (
                f"pool process {os.getpid()} could not start its runtime: "
                f"{type(exc).__name__}: {exc}"
            )
            log.critical(message)
            failures.report(message)
            os._exit(EX_CHILD_START)

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

    failures.watch()
    unrecoverable = Unrecoverable()
    logging.getLogger("celery.worker").addFilter(unrecoverable)
    code = celery_main(app, worker_argv(settings, celery_args))
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # Celery redirected them to its log
    if failures.first is not None:
        raise WorkerStartError(f"{failures.first}; the worker stopped")
    if unrecoverable.error is not None:
        raise WorkerStartError(f"the worker stopped: {unrecoverable.error}")
    if code:
        sys.exit(code)


def celery_main(app: Celery, argv: list[str]) -> int:
    """Celery's command line on `app`; the worker's exit status. (Celery's own `app.start`
    drops the status its command line returns, so a worker that failed exited 0.)"""
    from celery.bin.celery import celery as command

    command.params[0].default = app
    try:
        code = command.main(args=argv, standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    finally:
        command.params[0].default = None
    return code if isinstance(code, int) else 0


class Unrecoverable(logging.Filter):
    """Keeps the error that ended a worker (Celery logs it as "Unrecoverable error" with its
    traceback; e.g. every pool process exited as it started) to say it in one line, and drops
    the traceback from the log unless the log level is DEBUG."""

    def __init__(self) -> None:
        super().__init__()
        self.error: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Unrecoverable error") and record.exc_info:
            exc = record.exc_info[1]
            self.error = f"{type(exc).__name__}: {exc}"
            if logging.getLogger("celery").getEffectiveLevel() > logging.DEBUG:
                record.exc_info, record.exc_text = None, None
        return True


def worker_argv(settings: Settings, celery_args: Sequence[str]) -> list[str]:
    """Celery's arguments: the user's, with Salvo's defaults where the user gave none.

    The pool is `threads`: each pool thread hands its batch to the process's one event loop
    (worker/runtime.py), so one process sends from `worker_concurrency` batches at once and its
    calls in flight are bounded by each account's `max_in_flight`. A process runs Python on one
    core at a time: run one `salvo worker` per core (or more replicas) to use more.

    Celery's gossip and mingle are off (`--without-gossip --without-mingle`): nothing of Salvo
    reads them (workers count each other through the dispatchers' own heartbeats in Redis,
    sms/keys.py `WORKERS`), and gossip has every worker receive and decode every other worker's
    events. Celery's heartbeat events stay on: Flower lists workers by them.
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
    for flag in ("--without-gossip", "--without-mingle"):
        if not given(flag):
            argv.append(flag)
    return argv
