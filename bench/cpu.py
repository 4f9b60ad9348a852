"""CPU use of the processes a benchmark run involves, by role, through psutil.

A run's processes are this one and its descendants: the private server, the sandbox, the
workers (and their pool children, with prefork), the ceiling's client. Each role's figure is
the cores it kept busy (CPU seconds over wall seconds) and its context switches, measured over
a block (`cpu_meter`); a process that ended inside the block takes its CPU with it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import psutil

ROLES = (
    ("-m sandbox", "sandbox"),
    ("valkey", "redis"),
    ("salvo.cli", "salvo worker"),
    ("bench.dry_worker", "salvo worker"),
    ("bench.naive", "naive worker"),
    ("multiprocessing", "ceiling client"),
)


def _role(proc: psutil.Process) -> str:
    if proc.pid == os.getpid():
        return "bench (this process)"
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return "other"
    return next((role for needle, role in ROLES if needle in cmd), "other")


def _usage(proc: psutil.Process) -> tuple[float, int]:
    """CPU seconds (user + system) and context switches of one process, all its threads
    included; (0, 0) once it is gone."""
    try:
        with proc.oneshot():
            times, switches = proc.cpu_times(), proc.num_ctx_switches()
    except psutil.Error:
        return 0.0, 0
    return times.user + times.system, switches.voluntary + switches.involuntary


def usage_by_role() -> dict[str, tuple[float, int]]:
    """CPU seconds and context switches so far of this process and its descendants, per role."""
    out: dict[str, tuple[float, int]] = {}
    stack = [(psutil.Process(), "")]
    while stack:
        proc, parent_role = stack.pop()
        if parent_role in ("", "bench (this process)"):
            role = _role(proc)
        elif parent_role in ("salvo worker", "naive worker"):
            role = f"{parent_role} pool"  # prefork children, apart from the main process
        else:
            role = parent_role
        cpu, switches = _usage(proc)
        total = out.get(role, (0.0, 0))
        out[role] = (total[0] + cpu, total[1] + switches)
        with contextlib.suppress(psutil.Error):
            stack += [(child, role) for child in proc.children()]
    return out


@dataclass
class Usage:
    """What each role used during a measurement: cores kept busy (CPU s / wall s) and context
    switches (how often its processes stopped for another, or to wait)."""

    cores: dict[str, float] = field(default_factory=dict)
    switches: dict[str, int] = field(default_factory=dict)


@contextlib.contextmanager
def cpu_meter(into: Usage) -> Iterator[None]:
    """Fill `into` with what each role used during the block."""
    before, t0 = usage_by_role(), time.monotonic()
    yield
    after, wall = usage_by_role(), max(time.monotonic() - t0, 1e-9)
    for role in sorted(after):
        cpu0, switches0 = before.get(role, (0.0, 0))
        busy = (after[role][0] - cpu0) / wall
        if busy >= 0.01:
            into.cores[role] = busy
            into.switches[role] = after[role][1] - switches0
