"""The whole system on one machine: an embedded server, the sandbox and workers as children.

`salvo demo`, the benchmarks and the end-to-end tests start their parts through these context
managers, so every process they start is stopped when the block ends, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sms import keys
from sms.connect import sync_client
from sms.embedded import spawn
from sms.errors import ServerError

#: Credentials the sandbox accepts unless told otherwise (see sandbox/README.md).
SANDBOX_ACCOUNTS: dict[str, dict[str, Any]] = {
    "justcall": {"kind": "justcall", "api_key": "sandbox-key", "api_secret": "sandbox-secret"},
    "carrierx": {"kind": "carrierx", "token": "sandbox-token"},
    "textingline": {"kind": "textingline", "key_id": "sandbox-id", "key_secret": "sandbox-secret"},
    "skycore": {"kind": "skycore", "api_key": "sandbox-key"},
}


def sandbox_accounts(sandbox_url: str, **extra: Any) -> dict[str, dict[str, Any]]:
    """One account per provider kind, named after it, pointed at the sandbox at `sandbox_url`."""
    accounts: dict[str, dict[str, Any]] = {}
    for name, account in SANDBOX_ACCOUNTS.items():
        account = {**account, **extra}
        if name == "skycore":
            account["endpoint_url"] = f"{sandbox_url}/skycore/api"
        else:
            account["base_url"] = f"{sandbox_url}/{name}"
        accounts[name] = account
    return accounts


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; waits for the process to end."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def redis_server(data_dir: Path | None = None) -> Iterator[str]:
    """A private embedded server for the block; yields its URL.

    It runs in a session of its own: a Ctrl-C at the terminal reaches the workers and the
    sandbox, which stop while the server they need is still there, and the server is stopped
    last, when the block ends.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="salvo-redis-")))
        proc, url = spawn(data_dir, own_session=True)
        stack.callback(stop_process, proc)
        yield url


@contextlib.contextmanager
def sandbox_process(config: Mapping[str, Any] | None = None) -> Iterator[str]:
    """The sandbox on a free loopback port for the block; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="salvo-sandbox-") as tmp:
        args = [sys.executable, "-m", "sandbox", "--port", "0"]
        if config:
            path = Path(tmp) / "sandbox.json"
            path.write_text(json.dumps(config))
            args += ["--config", str(path)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "listening on" not in line:
                raise ServerError(f"sandbox did not start: {line!r}")
            yield line.rsplit(" ", 1)[-1].strip()
        finally:
            stop_process(proc)


class SandboxControl:
    """The sandbox's control API (sandbox/README.md) over HTTP, for the demo, tests and benches."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One request to the control API; the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    def configure(self, provider: str, **config: Any) -> Any:
        """Merge `config` into one provider's configuration."""
        return self.call("PUT", f"/_sandbox/config/{provider}", config)

    def reset(self) -> None:
        """Empty the ledger, arrivals and counters (the configuration is kept)."""
        self.call("POST", "/_sandbox/reset", {})

    def stats(self) -> Any:
        """Counters per provider."""
        return self.call("GET", "/_sandbox/stats")

    def accepted(self) -> int:
        """Messages accepted so far, all providers together."""
        return sum(int(p["accepted"]) for p in self.stats().values())

    def arrivals(self, provider: str) -> list[list[Any]]:
        """[time, HTTP status, outcome] of every send request that reached the provider."""
        return list(self.call("GET", f"/_sandbox/arrivals?provider={provider}")["arrivals"])

    def ledger(self, provider: str | None = None) -> list[dict[str, Any]]:
        """Every accepted message, in arrival order, read page by page."""
        query = f"&provider={provider}" if provider else ""
        entries: list[dict[str, Any]] = []
        since = 0
        while True:
            page = self.call("GET", f"/_sandbox/ledger?since={since}{query}")
            if not page["entries"]:
                return entries
            entries += page["entries"]
            since = page["next"]


def write_config(
    path: Path, redis_url: str, providers: Mapping[str, Mapping[str, Any]], **top: Any
) -> Path:
    """Write a salvo.toml for child processes (values are plain strings, numbers and booleans)."""
    lines = [f"redis_url = {json.dumps(redis_url)}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in top.items()]
    for name, account in providers.items():
        lines.append(f"\n[providers.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in account.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def worker_process(
    config: Path,
    redis_url: str,
    args: Sequence[str] = ("--concurrency", "2"),
    *,
    quiet: bool = True,
    module: str = "salvo.cli",
) -> Iterator[subprocess.Popen[bytes]]:
    """A `salvo worker` for the block, started and seen alive (its heartbeat) before yielding.

    `module` is the entry point run with `python -m` (a benchmark's variant of the CLI)."""
    cmd = [sys.executable, "-m", module, "--config", str(config), "worker", *args]
    if not any(a.startswith("--loglevel") or a == "-l" for a in args):
        cmd += ["--loglevel", "WARNING"]
    out = subprocess.DEVNULL if quiet else None
    client = sync_client(redis_url, decode_responses=True)
    started = time.time()
    proc = subprocess.Popen(
        cmd, stdout=out, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if client.zcount(keys.WORKERS, started, "+inf"):
                break
            if proc.poll() is not None:
                raise ServerError(f"worker exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise ServerError("worker did not start within 60 s")
            time.sleep(0.1)
        yield proc
    finally:
        stop_process(proc, timeout=30)
        client.close()


@dataclass(frozen=True)
class ApiServer:
    """A running `salvo api`: its base URL, process id and the file its log goes to."""

    url: str
    pid: int
    log: Path | None


@contextlib.contextmanager
def api_process(
    config: Path, log: Path | None = None, upload_dir: Path | None = None
) -> Iterator[ApiServer]:
    """`salvo api` on a free loopback port for the block; its log (stderr) to `log` if given.
    Its uploads wait in `upload_dir` (default: a temporary directory for the block, never the
    data directory)."""
    cmd = [sys.executable, "-m", "salvo.cli", "--config", str(config), "api", "--port", "0"]
    with contextlib.ExitStack() as stack:
        err: Any = stack.enter_context(log.open("a")) if log is not None else subprocess.DEVNULL
        if upload_dir is None:
            upload_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="salvo-up-")))
        env = {**os.environ, "SALVO_UPLOAD_DIR": str(upload_dir)}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        stack.callback(stop_process, proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on" not in line:
            raise ServerError(f"api did not start: {line!r}")
        yield ApiServer(line.rsplit(" ", 1)[-1].strip(), proc.pid, log)
