"""`--watch`'s figures as pure functions: the rate over the last seconds of readings, the time
left at that rate, and the line beside the bar."""

from __future__ import annotations

from salvo.watch import Rate, detail, left


def test_the_rate_is_over_the_last_seconds_of_readings() -> None:
    rate = Rate(window=5.0)
    assert rate.add(100.0, 0) is None  # one reading: no rate yet
    assert rate.add(101.0, 10) == 10.0
    assert rate.add(102.0, 30) == 15.0
    for at in range(103, 110):
        rate.add(float(at), 30)  # nothing more ended: the rate falls as old readings leave
    assert rate.add(110.0, 30) == 0.0
    assert rate.add(111.0, 80) == 10.0  # 50 more since the reading a window back (106 s)


def test_time_left_and_the_line_beside_the_bar() -> None:
    assert left(0, None) == "0:00:00"
    assert left(100, None) == left(100, 0.0) == "-:--:--"
    assert left(3725, 1.0) == "1:02:05"
    counts = {"sent": 5, "delivered": 3, "failed": 1, "undelivered": 1, "queued": 40, "total": 50}
    assert detail(counts, 4.0) == "sent 8, failed 2, waiting 40, rate 4.0/s, left 0:00:10"
    assert detail(counts, None).endswith("rate -, left -:--:--")


def test_every_end_and_unknown_are_beside_the_bar() -> None:
    counts = {"sent": 5, "cancelled": 3, "expired": 1, "unknown": 2, "queued": 0, "total": 11}
    assert detail(counts, None) == (
        "sent 5, failed 0, cancelled 3, expired 1, waiting 0, unknown 2 (salvo reconcile), "
        "rate -, left 0:00:00"
    )
