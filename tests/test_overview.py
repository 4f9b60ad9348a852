"""`salvo status` with no id: accounts, their limits, cooldowns and counters, and waiting work."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from producer.api import Producer
from producer.overview import overview
from sms.message import Message, Status
from tests.conftest import Sandbox
from tests.helpers import SENDERS, run_cli, wait_for

pytestmark = pytest.mark.usefixtures("worker")


def counter(data: dict[str, Any], account: str, field: str) -> int:
    value: int = data["accounts"][account]["counters"][field]
    return value


def test_the_overview_shows_each_accounts_limit_cooldown_and_counters(
    producer: Producer, sandbox: Sandbox, config_file: Path
) -> None:
    before = overview(producer.redis, producer.settings)
    sandbox.configure("textingline", rate_limit={"limit": 2, "window": 2})
    limited = producer.send_many(
        Message(
            account="textingline", to=f"+1202555{i:04d}", sender=SENDERS["textingline"], body="o"
        )
        for i in range(300, 306)
    )
    plain = producer.send_many(
        Message(account="carrierx", to=f"+1202555{i:04d}", sender=SENDERS["carrierx"], body="o")
        for i in range(310, 313)
    )
    # While TextingLine refuses, the overview shows the limit learnt and the account cooling down.
    seen_cooldown, deadline = None, time.monotonic() + 30
    while True:
        now = overview(producer.redis, producer.settings)["accounts"]["textingline"]
        seen_cooldown = seen_cooldown or now["cooldown"]
        if seen_cooldown and now["ceiling"] is not None:
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.05)
    assert "rate limited" in seen_cooldown["reason"]
    assert 0 < seen_cooldown["seconds"] <= 3
    assert now["ceiling"] <= 2.0
    assert now["rate"] is None  # nothing configured: the rate shown is the learnt one

    records = wait_for(producer, limited + plain, timeout=60)
    assert {r.status for r in records} == {Status.SENT}
    done = run_cli(config_file, "status", "--json")
    assert done.returncode == 0, done.stderr
    after = json.loads(done.stdout)
    assert set(after["accounts"]) >= {"justcall", "carrierx", "textingline", "skycore"}
    assert after["workers"] >= 1
    assert set(after["waiting"]) == {"due", "later", "metered", "tasks"}
    assert set(after["waiting"]["tasks"]) == {"transactional", "bulk"}

    def grew(account: str, field: str) -> int:
        return counter(after, account, field) - counter(before, account, field)

    assert grew("carrierx", "outcome:accepted") == 3
    assert grew("carrierx", "status:sent") == 3
    assert grew("textingline", "status:sent") == 6
    assert grew("textingline", "outcome:accepted") == 6
    assert grew("textingline", "outcome:rate_limited") >= 1
    assert grew("textingline", "retries") == 0  # waiting on a limit is not a retry
    assert after["accounts"]["carrierx"]["kind"] == "carrierx"

    table = run_cli(config_file, "status")
    assert table.returncode == 0, table.stderr
    for name in ("justcall", "carrierx", "textingline", "skycore", "limit met at"):
        assert name in table.stdout
