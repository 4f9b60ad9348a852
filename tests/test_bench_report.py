"""bench.throughput's report: ratios taken round by round, and what both targets ask of c/a."""

from __future__ import annotations

import io

from rich.console import Console

from bench.throughput import Result, joint_bound, ratios_by_round, report


def _runs(*rates: float) -> list[Result]:
    return [Result("x", 1000, 1000 / r) for r in rates]


def test_ratios_pair_runs_of_the_same_round() -> None:
    results = {"salvo": _runs(100, 300), "ceiling": _runs(200, 400)}
    assert ratios_by_round(results, "salvo", "ceiling") == [0.5, 0.75]


def test_a_fast_naive_baseline_makes_c_over_b_the_harder_target() -> None:
    # a/b = 12: c >= 10 b means c >= 0.83 a, above the 0.7 the ceiling target asks.
    results = {"ceiling": _runs(2400, 2400, 2400), "naive": _runs(200, 200, 200)}
    assert abs((joint_bound(results) or 0) - 10 / 12) < 1e-9


def test_a_slow_naive_baseline_leaves_the_ceiling_target_the_harder() -> None:
    results = {"ceiling": _runs(5000), "naive": _runs(250)}  # a/b = 20: 10 b is 0.5 a
    assert joint_bound(results) == 0.7


def test_no_naive_run_no_bound() -> None:
    assert joint_bound({"ceiling": _runs(5000)}) is None


def test_report_names_the_bound() -> None:
    results = {
        "ceiling": _runs(2400),
        "naive": _runs(200),
        "salvo": _runs(1500),
    }
    out = io.StringIO()
    assert report(Console(file=out, width=200), results, 1000)
    text = out.getvalue()
    assert "a / b  ceiling / naive" in text
    assert "both targets need c/a >= 0.83" in text
    assert "not met" in text
