"""The dashboard's figures: a campaign's progress bar; and from running totals, windows over
readings, latency percentiles from the histogram's buckets, and the reminders' waits from the
workers' histogram of them."""

from __future__ import annotations

import pytest

from api.dashboard.campaigns import PARTS, STATUSES, campaign_from
from api.dashboard.history import Change, Series, merged, quantile
from sms.message import Status
from sms.metrics import WAIT_BOUNDS


def test_a_window_takes_the_growth_since_the_first_reading_inside_it() -> None:
    series = Series()
    for at, accepted in ((0.0, 10.0), (30.0, 40.0), (50.0, 70.0), (60.0, 100.0)):
        series.add(at, {"outcome:accepted": accepted})
    minute = series.change(60.0, now=60.0)
    assert (minute.total("outcome:accepted"), minute.seconds) == (90.0, 60.0)
    recent = series.change(20.0, now=60.0)
    assert (recent.total("outcome:accepted"), recent.seconds) == (30.0, 10.0)
    assert recent.per_second("outcome:accepted") == 3.0


def test_a_counter_that_was_reset_counts_from_zero() -> None:
    series = Series()
    series.add(0.0, {"status:failed": 50.0})
    series.add(10.0, {"status:failed": 3.0})
    assert series.change(60.0, now=10.0).total("status:failed") == 3.0


def test_one_reading_gives_no_window() -> None:
    series = Series()
    series.add(0.0, {"outcome:accepted": 5.0})
    change = series.change(60.0, now=0.0)
    assert change.seconds == 0.0 and change.per_second("outcome:accepted") is None


def test_latency_percentiles_are_interpolated_within_their_bucket() -> None:
    # 100 calls: 50 of at most 0.1 s (above 0.05), 50 of at most 0.25 s (above 0.1).
    change = Change({"latency_le:0.1": 50.0, "latency_le:0.25": 50.0}, 60.0)
    assert quantile(change, 0.5) == 0.1
    p99 = quantile(change, 0.99)
    assert p99 is not None and 0.24 < p99 <= 0.25
    assert quantile(Change({}, 60.0), 0.5) is None
    assert quantile(Change({"latency_le:+Inf": 3.0}, 60.0), 0.99) == 10.0


def test_reminders_waits_come_from_the_workers_histogram_summed_over_accounts() -> None:
    one = Change({"wait_le:transactional:0.25": 8.0, "wait_le:transactional:1.0": 2.0}, 300.0)
    two = Change({"wait_le:transactional:0.25": 0.0, "wait_le:bulk:60.0": 50.0}, 120.0)
    both = merged([one, two])
    assert both.seconds == 300.0
    assert quantile(both, 0.5, "wait_le:transactional:", WAIT_BOUNDS) == pytest.approx(
        0.1 + 0.15 * 5 / 8
    )
    p99 = quantile(both, 0.99, "wait_le:transactional:", WAIT_BOUNDS)
    assert p99 is not None and 0.5 < p99 <= 1.0
    assert quantile(merged([]), 0.5, "wait_le:transactional:", WAIT_BOUNDS) is None


def test_every_status_has_a_part_of_the_progress_bar_and_a_row_of_its_counts() -> None:
    """A campaign with messages in every status: the bar's parts add up to its total (none
    left out, none counted twice), named as `salvo status --watch` names the ends."""
    counts = {status.value: i + 1 for i, status in enumerate(Status)}
    raw = {**{k: str(v) for k, v in counts.items()}, "total": str(sum(counts.values()))}
    meta = {"created": "1700000000.0", "state": "running", "account": "a"}
    campaign = campaign_from("c1", meta, raw, rate=None)
    assert sum(part.count for part in campaign.parts) == campaign.total == sum(counts.values())
    assert [name for name, _ in PARTS] == [
        "delivered", "sent", "failed", "expired", "cancelled", "suppressed", "unknown", "waiting"
    ]  # fmt: skip
    assert set(STATUSES) == {status.value for status in Status}
