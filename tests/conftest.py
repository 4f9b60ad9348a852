"""Shared fixtures: a real embedded server, the real sandbox and real workers, all started here.

Everything is on 127.0.0.1 and stops when the session (or the test) ends. Tests never flush the
server: each one works on fresh ids, so a worker that outlives a test sees nothing strange.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from producer.api import Producer
from salvo.local import (
    SandboxControl,
    api_process,
    redis_server,
    sandbox_accounts,
    sandbox_process,
    worker_process,
    write_config,
)
from sms import keys
from sms.settings import Settings
from tests.api_client import Api

#: The session's `status_webhook_secret`: what tests verify callbacks' signatures with.
CALLBACK_SECRET = "tests-callback-secret"
#: The API key of the `doors` fixture's API.
KEY = "test-key-" + uuid.uuid4().hex


@dataclass(frozen=True)
class Doors:
    """The CLI's settings file and a running API, both on the same database (no worker reads
    it: what is enqueued there stays queued)."""

    config: Path
    api: Api


@pytest.fixture(scope="module")
def doors(
    tmp_path_factory: pytest.TempPathFactory, unit_url: str, sandbox_url: str
) -> Iterator[Doors]:
    tmp = tmp_path_factory.mktemp("doors")
    providers = sandbox_accounts(sandbox_url, receipt_secret="not-used-here")
    config = write_config(tmp / "salvo.toml", unit_url, providers, api_keys=[KEY])
    with api_process(config, tmp / "api.log") as server:
        yield Doors(config, Api(server.url, KEY))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def unit_url(redis_url: str) -> str:
    """Database 1 of the same server: no worker or dispatcher ever looks there."""
    return redis_url.rsplit("/", 1)[0] + "/1"


@pytest.fixture
def r(unit_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(unit_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    with sandbox_process() as url:
        yield url


Sandbox = SandboxControl


DEFAULT_FAULTS = {
    "rate_limit": None,
    "quota": None,
    "latency_ms": 0,
    "fault_5xx": 0.0,
    "reset_before": 0.0,
    "reset_after": 0.0,
    "timeout_before": 0.0,
    "timeout_after": 0.0,
}


@pytest.fixture
def sandbox(sandbox_url: str, redis_url: str) -> Iterator[Sandbox]:
    """The session's sandbox, emptied and without faults for this test; and what the session's
    accounts learnt of earlier tests' sandbox limits, forgotten."""
    box = Sandbox(sandbox_url)
    for provider in ("justcall", "carrierx", "textingline", "skycore"):
        box.configure(provider, **DEFAULT_FAULTS)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    for account in ("justcall", "carrierx", "textingline", "skycore"):
        client.delete(keys.learnt_rate(account), keys.cooldown(account), keys.bucket(account))
    settle(client)
    client.close()
    box.reset()
    yield box


#: The longest the sandbox fixture waits for earlier tests' sends to end.
SETTLE = 10.0


def settle(client: redis.Redis) -> None:
    """Wait (at most SETTLE seconds) until the session worker has nothing due, metered or in a
    call on the sandboxed accounts, so an earlier test's sends do not reach this test's ledger.
    Messages due later (scheduled, quiet hours, held) are left waiting."""
    deadline = time.monotonic() + SETTLE
    accounts = ("justcall", "carrierx", "textingline", "skycore")
    while time.monotonic() < deadline:
        now = time.time()
        pipe = client.pipeline(transaction=False)
        pipe.zcard(keys.LEASES)
        for account in accounts:
            pipe.zcard(keys.out(account))
            for lane in ("transactional", "bulk"):
                pipe.zcount(keys.ready(account, lane), "-inf", now)
        if not any(pipe.execute()):
            return
        time.sleep(0.05)


@pytest.fixture(scope="session")
def providers(sandbox_url: str) -> dict[str, dict[str, Any]]:
    return sandbox_accounts(sandbox_url, timeout=3.0)


@pytest.fixture(scope="session")
def config_file(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, providers: dict[str, Any]
) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "salvo.toml"
    return write_config(
        path,
        redis_url,
        providers,
        republish_after=3.0,
        # Status callbacks can be signed (no URL is set: only tests that name one get any),
        # and a failed one is tried again after 0.2 s, 0.4 s, ... (tests/test_callbacks.py).
        status_webhook_secret=CALLBACK_SECRET,
        status_webhook_backoff=0.2,
    )


@pytest.fixture(scope="session")
def settings(config_file: Path) -> Settings:
    return Settings.load(config_file)


@pytest.fixture
def producer(settings: Settings) -> Iterator[Producer]:
    p = Producer(settings)
    yield p
    p.close()


@pytest.fixture(scope="session")
def worker(config_file: Path, redis_url: str) -> Iterator[None]:
    """One real worker (a subprocess, prefork with two children) for the whole session."""
    with worker_process(config_file, redis_url, ("--concurrency", "2", "-n", "tests@%h")):
        yield
