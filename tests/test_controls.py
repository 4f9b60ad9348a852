"""Pausing, resuming and cancelling a campaign while a real worker sends it to the sandbox."""

from __future__ import annotations

import csv
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from producer.api import Producer
from producer.campaign import BlastSpec, blast
from sms import keys
from sms.errors import Conflict
from tests.conftest import Sandbox
from tests.helpers import SENDERS, run_cli

pytestmark = pytest.mark.usefixtures("worker")

ROWS = 600
ACCOUNT = "carrierx"


def start(
    producer: Producer, tmp_path: Path, rows: int = ROWS, send_at: datetime | None = None
) -> str:
    """Blast a fresh campaign of `rows` recipients; returns its id."""
    path = tmp_path / "people.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "first_name"])
        for i in range(rows):
            w.writerow([f"+1312555{i:04d}", f"P{i}"])
    campaign = f"k{uuid.uuid4().hex[:8]}"
    spec = BlastSpec(
        account=ACCOUNT,
        sender=SENDERS[ACCOUNT],
        template="Hi {first_name} of " + campaign,  # so the ledger tells its sends apart
        campaign=campaign,
        send_at=send_at,
    )
    assert blast(producer, path, spec).enqueued == rows
    return campaign


def ours(sandbox: Sandbox, campaign: str) -> list[dict[str, Any]]:
    """The sandbox's ledger entries of this campaign (another test's sends may still land)."""
    return [e for e in sandbox.ledger() if e["body"].endswith(f" of {campaign}")]


def counts(producer: Producer, campaign: str) -> Counter[str]:
    return Counter(producer.campaign(campaign).counts)


def until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def set_aside(producer: Producer, campaign: str) -> int:
    return cast(int, producer.redis.scard(keys.campaign_paused(campaign)))


def records(producer: Producer, campaign: str, rows: int = ROWS) -> list[tuple[str, str]]:
    """(status, reason) of every message of the campaign, found by its idempotency key."""
    ids = [producer.store.id_for_key(f"{campaign}:+1312555{i:04d}") for i in range(rows)]
    return [(r.status.value, r.reason) for r in (producer.status(str(mid)) for mid in ids)]


def slow_start(producer: Producer, sandbox: Sandbox, tmp_path: Path) -> str:
    """A campaign the sandbox answers slowly, seen sending."""
    sandbox.configure(ACCOUNT, latency_ms=500)
    campaign = start(producer, tmp_path)
    until(lambda: len(ours(sandbox, campaign)) >= 50, "first sends")
    return campaign


def test_a_paused_campaign_stops_sending_and_resumes_sending_each_message_once(
    producer: Producer, sandbox: Sandbox, tmp_path: Path, config_file: Path
) -> None:
    campaign = slow_start(producer, sandbox, tmp_path)
    done = run_cli(config_file, "pause", campaign)
    assert done.returncode == 0, done.stderr
    assert f"campaign {campaign}: running -> paused" in done.stdout
    # Batches already sending finish; every other message is set aside, still queued.
    until(
        lambda: counts(producer, campaign)["sent"] + set_aside(producer, campaign) == ROWS,
        "every message sent or set aside",
    )
    stopped = len(ours(sandbox, campaign))
    assert stopped < ROWS
    time.sleep(1.5)
    assert len(ours(sandbox, campaign)) == stopped
    now = counts(producer, campaign)
    assert (now["sent"], now["queued"], now["sending"]) == (stopped, ROWS - stopped, 0)
    assert "(paused)" in run_cli(config_file, "status", campaign).stdout

    done = run_cli(config_file, "resume", campaign)
    assert done.returncode == 0, done.stderr
    aside = ROWS - stopped
    noun = "message" if aside == 1 else "messages"
    assert f"paused -> running; {aside:,} set-aside {noun} published again" in done.stdout
    until(lambda: counts(producer, campaign)["sent"] == ROWS, "all sent after resuming")
    assert set_aside(producer, campaign) == 0
    ledger = Counter(e["to"] for e in ours(sandbox, campaign))
    assert len(ledger) == ROWS
    assert set(ledger.values()) == {1}


def test_a_cancelled_campaign_ends_what_it_has_not_sent_and_never_sends_it(
    producer: Producer, sandbox: Sandbox, tmp_path: Path
) -> None:
    campaign = slow_start(producer, sandbox, tmp_path)
    result = producer.cancel(campaign)
    assert (result.previous, result.state) == ("running", "cancelled")
    until(
        lambda: (
            counts(producer, campaign)["sent"] + counts(producer, campaign)["cancelled"] == ROWS
        ),
        "every message sent or cancelled",
    )
    final = counts(producer, campaign)
    assert final["cancelled"] > 0
    time.sleep(1.0)
    ledger = Counter(e["to"] for e in ours(sandbox, campaign))
    assert sum(ledger.values()) == final["sent"]
    assert set(ledger.values()) == {1}
    ends = Counter(
        status if status == "sent" else f"{status}: {reason}"
        for status, reason in records(producer, campaign)
    )
    assert ends == {"sent": final["sent"], "cancelled: campaign cancelled": final["cancelled"]}
    with pytest.raises(Conflict):
        producer.resume(campaign)


def test_cancelling_a_paused_campaign_ends_the_messages_set_aside(
    producer: Producer, sandbox: Sandbox, tmp_path: Path
) -> None:
    campaign = slow_start(producer, sandbox, tmp_path)
    producer.pause(campaign)
    until(
        lambda: counts(producer, campaign)["sent"] + set_aside(producer, campaign) == ROWS,
        "every message sent or set aside",
    )
    sent = counts(producer, campaign)["sent"]
    result = producer.cancel(campaign)
    assert (result.previous, result.republished) == ("paused", ROWS - sent)
    until(lambda: counts(producer, campaign)["cancelled"] == ROWS - sent, "set-aside cancelled")
    assert counts(producer, campaign)["queued"] == 0
    assert set_aside(producer, campaign) == 0
    assert len(ours(sandbox, campaign)) == sent


def test_cancelling_a_scheduled_campaign_ends_its_messages_now(
    producer: Producer, sandbox: Sandbox, tmp_path: Path, config_file: Path
) -> None:
    campaign = start(producer, tmp_path, rows=5, send_at=datetime.now(UTC) + timedelta(hours=1))
    done = run_cli(config_file, "cancel", campaign)
    assert done.returncode == 0, done.stderr
    # What the workers are handed is handed to end cancelled: nothing says "published again".
    assert done.stdout.strip() == (
        f"campaign {campaign}: scheduled -> cancelled; every message not yet sent ends "
        "cancelled (0 set aside while paused, 5 scheduled for later)"
    )
    until(lambda: counts(producer, campaign)["cancelled"] == 5, "scheduled messages cancelled")
    assert records(producer, campaign, rows=5) == [("cancelled", "campaign cancelled")] * 5
    watched = run_cli(config_file, "status", campaign, "--watch", timeout=30)
    assert watched.returncode == 0, watched.stderr
    shown = " ".join(watched.stderr.split())
    assert f"{campaign} (cancelled)" in shown
    assert "sent 0, failed 0, cancelled 5, waiting 0" in shown  # every message accounted for
    assert ours(sandbox, campaign) == []


def test_controls_name_an_unknown_campaign(config_file: Path) -> None:
    for action in ("pause", "resume"):
        done = run_cli(config_file, action, "no-such-campaign")
        assert done.returncode == 1
        assert "no campaign with id 'no-such-campaign'" in done.stderr
    # cancel takes a message id as well as a campaign's
    done = run_cli(config_file, "cancel", "no-such-campaign")
    assert done.returncode == 1
    assert "no message or campaign with id 'no-such-campaign'" in done.stderr
