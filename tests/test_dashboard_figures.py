"""The dashboard's figures from running totals: windows over readings, latency percentiles from
the histogram's buckets, and the nearest-rank percentile of reminders' waits."""

from __future__ import annotations

from api.dashboard.history import Change, Series, quantile
from api.dashboard.waits import percentile


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


def test_waits_take_the_nearest_rank_percentile() -> None:
    waits = [float(n) for n in range(1, 101)]
    assert (percentile(waits, 0.5), percentile(waits, 0.99)) == (50.0, 99.0)
    assert percentile([4.2], 0.99) == 4.2
    assert percentile([], 0.5) is None
