"""bench.report: ratios taken round by round, and what both targets ask of c/a."""

from __future__ import annotations

import io

from rich.console import Console

from bench.report import bounds_by_round, exchange_costs, joint_bound, ratios_by_round, report
from bench.runs import Result


def _runs(*rates: float) -> list[Result]:
    return [Result("x", 1000, 1000 / r) for r in rates]


def test_ratios_pair_runs_of_the_same_round() -> None:
    results = {"salvo": _runs(100, 300), "ceiling": _runs(200, 400)}
    assert ratios_by_round(results, "salvo", "ceiling") == [0.5, 0.75]


def test_a_fast_naive_baseline_makes_c_over_b_the_harder_target() -> None:
    # a/b = 12: c >= 10 b means c >= 0.83 a, above the 0.6 the ceiling target asks.
    results = {"ceiling": _runs(2400, 2400, 2400), "naive": _runs(200, 200, 200)}
    assert abs((joint_bound(results) or 0) - 10 / 12) < 1e-9


def test_a_slow_naive_baseline_leaves_the_ceiling_target_the_harder() -> None:
    results = {"ceiling": _runs(5000), "naive": _runs(250)}  # a/b = 20: 10 b is 0.5 a
    assert joint_bound(results) == 0.6


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


def _busy(rate: float, cores: float) -> Result:
    """A run at `rate` msgs/s that kept `cores` cores busy: 1e6 * cores / rate µs a message."""
    r = Result("x", 1000, 1000 / rate)
    r.usage.cores, r.usage.switches = {"all": cores}, {"all": 0}
    return r


def test_the_bound_is_the_ceilings_cpu_over_it_plus_the_bookkeepings() -> None:
    # (a) 300 µs a message, (d) 200: with the exchange costing Salvo what it costs (a),
    # c/a is at most 300 / 500.
    results = {
        "ceiling": [_busy(6000, 1.8)],
        "dry": [_busy(6000, 1.2)],
        "salvo": [_busy(3000, 1.8)],  # 600 µs: the exchange cost it 400, 1.33 x (a)'s 300
    }
    (bound,) = bounds_by_round(results)
    assert abs(bound - 0.6) < 1e-9
    (cost,) = exchange_costs(results)
    assert abs(cost - 4 / 3) < 1e-9
    out = io.StringIO()
    report(Console(file=out, width=200), results, 1000)
    text = out.getvalue()
    assert "c / a at most, from (d)" in text
    assert "0.6 needs CPU(d) <= 0.67 x CPU(a)" in text


def test_no_cpu_figures_no_bound() -> None:
    results = {"ceiling": _runs(5000), "dry": _runs(4000)}
    assert bounds_by_round(results) == []
    assert exchange_costs(results) == []
