"""Salvo behind Redis Sentinel: a real master and a real sentinel, both started here.

`redis_url = "sentinel://HOST:PORT/MASTER/DB"` must carry everything: the producer's records,
Celery's broker, the worker's runtime and dispatcher all find the master through the sentinel.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from producer.api import Producer
from salvo.local import stop_process, worker_process, write_config
from sms.connect import SentinelTarget, celery_broker, sentinel_target
from sms.embedded import binary, free_port, spawn
from sms.errors import ConfigError
from sms.message import Message, Status
from sms.settings import Settings
from tests.conftest import Sandbox
from tests.helpers import SENDERS, wait_for

MASTER = "salvo-test"


def test_sentinel_urls_are_read_and_their_mistakes_named() -> None:
    assert sentinel_target("redis://127.0.0.1:6379/0") is None
    assert sentinel_target("sentinel://:pw@h1:26379,h2:26380/main/3") == SentinelTarget(
        (("h1", 26379), ("h2", 26380)), "main", 3, "pw"
    )
    assert sentinel_target("sentinel://h1:26379/main") == SentinelTarget((("h1", 26379),), "main")
    assert celery_broker("sentinel://:pw@h1:1,h2:2/main/3") == (
        "sentinel://:pw@h1:1/3;sentinel://:pw@h2:2/3",
        {"master_name": "main"},
    )
    for bad, says in (
        ("sentinel://h1/main", "HOST:PORT"),
        ("sentinel://h1:26379", "MASTER"),
        ("sentinel://h1:26379/main/x", "must be a number"),
    ):
        with pytest.raises(ConfigError, match=says):
            sentinel_target(bad)


@pytest.fixture(scope="module")
def sentinel_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A master and one sentinel watching it, on free loopback ports; stopped afterwards."""
    tmp = tmp_path_factory.mktemp("sentinel")
    master, master_url = spawn(tmp / "master")
    port, master_port = free_port(), int(master_url.rsplit(":", 1)[1].split("/")[0])
    conf = tmp / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp}\nlogfile {tmp / 'sentinel.log'}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 1\n"
    )
    sentinel = subprocess.Popen([str(binary()), str(conf), "--sentinel"])
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while True:
            try:
                if client.sentinel_get_master_addr_by_name(MASTER):
                    break
            except redis.RedisError:
                pass
            assert sentinel.poll() is None, "sentinel exited"
            assert time.monotonic() < deadline, "sentinel did not come up"
            time.sleep(0.1)
        client.close()
        yield f"sentinel://127.0.0.1:{port}/{MASTER}/4"
    finally:
        stop_process(sentinel)
        stop_process(master)


def test_a_message_goes_through_a_master_found_by_sentinel(
    sentinel_url: str,
    providers: dict[str, dict[str, object]],
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "salvo.toml", sentinel_url, providers)
    settings = Settings.load(config)
    producer = Producer(settings)
    try:
        m = Message.model_validate(
            {"account": "carrierx", "to": "+12025550123", "from": SENDERS["carrierx"], "body": "hi"}
        )
        with worker_process(config, sentinel_url, ("--concurrency", "1")):
            mid = producer.send(m)
            (record,) = wait_for(producer, [mid], timeout=30)
        assert record.status is Status.SENT
        assert [e["body"] for e in sandbox.ledger()] == ["hi"]
    finally:
        producer.close()
