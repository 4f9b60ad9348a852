"""What several test modules need: the CLI as a subprocess, waiting for records, senders."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from producer.api import Producer
from sms.message import TERMINAL, Status
from sms.store import Record

#: A sender number per sandboxed account.
SENDERS = {
    "justcall": "+14155550100",
    "carrierx": "+14155550101",
    "textingline": "+14155550102",
    "skycore": "+14155550103",
}


def run_cli(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`salvo --config CONFIG ARGS...` in a subprocess, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "producer.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_for(producer: Producer, ids: list[str], timeout: float = 60.0) -> list[Record]:
    """The records of `ids` once every one is final (terminal or unknown)."""
    deadline = time.monotonic() + timeout
    while True:
        records = [producer.status(i) for i in ids]
        if all(r.status in TERMINAL or r.status is Status.UNKNOWN for r in records):
            return records
        if time.monotonic() > deadline:
            pending = Counter(r.status.value for r in records)
            raise AssertionError(f"not finished within {timeout}s: {pending}")
        time.sleep(0.1)
