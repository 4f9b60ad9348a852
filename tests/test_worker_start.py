"""A worker whose pool children cannot start exits non-zero, saying why: a real `salvo worker
--pool prefork` whose children run out of file descriptors as they start (the limit set by a
`worker_process_init` receiver connected ahead of Salvo's, through Celery's own signal API;
nothing of Salvo is patched). And a worker whose children start stops with status 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from salvo.local import sandbox_accounts, write_config
from sms.settings import Settings
from worker.main import worker_argv

#: Runs `salvo` as the console script does, after connecting a receiver that leaves a pool
#: child no file descriptor to open (every free one below a limit is taken, then the limit set
#: there), so making its runtime (an event loop, a socket pair) fails in the child alone.
STARVED = """
import os, resource, sys
from celery import signals

@signals.worker_process_init.connect(weak=False)
def starve(**_):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    top = max(int(fd) for fd in os.listdir("/proc/self/fd")) + 1
    resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
    try:
        while True:
            os.open(os.devnull, os.O_RDONLY)
    except OSError:
        pass

from salvo.cli import main
sys.exit(main())
"""

#: Runs `salvo` after connecting a receiver that ends every pool child as it starts, before
#: Salvo's own receiver runs: a child that crashes, not one whose runtime fails.
CRASHING = """
import os, sys
from celery import signals

@signals.worker_process_init.connect(weak=False)
def crash(**_):
    os._exit(7)

from salvo.cli import main
sys.exit(main())
"""


def worker(tmp_path: Path, config: Path, script: str | None) -> subprocess.Popen[str]:
    entry = ["-c", script] if script else ["-m", "salvo.cli"]
    cmd = [sys.executable, *entry, "--config", str(config), "worker", "--pool", "prefork"]
    return subprocess.Popen(
        [*cmd, "--concurrency", "2", "--loglevel", "WARNING", "-n", f"start{time.time_ns()}@%h"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )


def failed_start(tmp_path: Path, unit_url: str, sandbox_url: str, script: str) -> str:
    """Run a prefork worker through `script` until it ends; its output's last line, once it
    has checked that the worker ended with status 1 and printed no traceback."""
    config = write_config(tmp_path / "salvo.toml", unit_url, sandbox_accounts(sandbox_url))
    proc = worker(tmp_path, config, script)
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    return out.strip().splitlines()[-1]


def test_a_pool_child_that_cannot_start_ends_the_worker_with_a_failure(
    tmp_path: Path, unit_url: str, sandbox_url: str
) -> None:
    last = failed_start(tmp_path, unit_url, sandbox_url, STARVED)
    assert last.startswith("error: pool process "), last
    assert "could not start its runtime: OSError: [Errno 24] Too many open files" in last
    assert last.endswith("the worker stopped")


def test_pool_children_that_crash_as_they_start_end_the_worker_with_a_failure(
    tmp_path: Path, unit_url: str, sandbox_url: str
) -> None:
    last = failed_start(tmp_path, unit_url, sandbox_url, CRASHING)
    assert last == "error: the worker stopped: WorkerLostError: Could not start worker processes"


def test_a_worker_whose_children_start_stops_with_status_0(
    tmp_path: Path, unit_url: str, sandbox_url: str
) -> None:
    config = write_config(tmp_path / "salvo.toml", unit_url, sandbox_accounts(sandbox_url))
    proc = worker(tmp_path, config, None)
    try:
        time.sleep(3)  # let the pool start: not a timing assertion, the stop comes after it
        assert proc.poll() is None, proc.communicate()[0]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "could not start" not in out


def test_celery_runs_without_gossip_and_mingle_unless_the_user_says_otherwise(
    settings: Settings,
) -> None:
    argv = worker_argv(settings, ["-n", "one@%h"])
    assert argv[:3] == ["worker", "-n", "one@%h"]
    assert argv.count("--without-gossip") == argv.count("--without-mingle") == 1
    assert "--without-heartbeat" not in argv  # Flower lists workers by their heartbeats
    given = worker_argv(settings, ["--without-gossip", "--pool", "solo", "-c", "1"])
    assert given.count("--without-gossip") == 1
    assert given.count("--pool") == 1 and "solo" in given
    assert "--concurrency" not in given
