"""The report of bench.throughput: each run's rate and where its CPU went, the ratios by
round, and the bound on c/a that the bookkeeping alone (d) allows."""

from __future__ import annotations

import statistics

from rich.console import Console
from rich.table import Table

from bench.runs import TARGET_CEILING, TARGET_NAIVE, Result

# ----- the report -----------------------------------------------------------------------------

LABELS = {
    "ceiling": "(a) ceiling: raw aiohttp",
    "naive": "(b) naive: a Celery task per msg",
    "salvo": "(c) Salvo end to end",
    "dry": "(d) Salvo, no provider call",
    "salvo-learnt": "(c') Salvo, rate learnt",
}


def _details(r: Result) -> list[str]:
    """A run's notes, and where its CPU went."""
    lines = list(r.notes)
    if r.ledger is not None and not r.ledger.ok:
        lines.append(f"[bold red]ledger wrong: {r.ledger}[/]")
    cores, switches = r.usage.cores, r.usage.switches
    if cores:
        # Cores kept busy, and what that is in CPU per message: where the time goes.
        per = 1e6 / r.rate if r.rate else 0.0
        order = sorted(cores, key=lambda k: -cores[k])
        busy = ", ".join(f"{k} {cores[k]:.2f} ({cores[k] * per:,.0f})" for k in order)
        total = sum(cores.values())
        lines.append(
            f"cores busy (µs of CPU per message): {total:.2f} ({total * per:,.0f}) = {busy}"
        )
        # How often the processes took turns on the cores: each switch costs its own CPU
        # and leaves the next process's caches cold.
        each = ", ".join(f"{k} {switches[k] / r.messages:.2f}" for k in order)
        lines.append(
            f"context switches per message: {sum(switches.values()) / r.messages:.2f} = {each}"
        )
    return lines


def ratios_by_round(results: dict[str, list[Result]], num: str, den: str) -> list[float]:
    """`num`'s rate over `den`'s, round by round (each pair measured within one round)."""
    pairs = zip(results.get(num, []), results.get(den, []), strict=False)
    return [n.rate / d.rate for n, d in pairs if d.rate > 0]


def joint_bound(results: dict[str, list[Result]]) -> float | None:
    """The c/a that meeting both targets takes in this run: the larger of TARGET_CEILING and
    TARGET_NAIVE x b/a (c >= 10 b is c/a >= 10 b/a), from the median a/b of the rounds."""
    ab = ratios_by_round(results, "ceiling", "naive")
    if not ab:
        return None
    return max(TARGET_CEILING, TARGET_NAIVE / statistics.median(ab))


def cpu_per_message(r: Result) -> float | None:
    """µs of CPU the run's processes used per message, all of them together."""
    if not r.usage.cores or r.rate <= 0:
        return None
    return sum(r.usage.cores.values()) * 1e6 / r.rate


def bounds_by_round(results: dict[str, list[Result]]) -> list[float]:
    """The most c/a can be, round by round, while Salvo's bookkeeping costs what (d) measured.

    Both (a) and (c) keep the machine's cores busy, so each one's rate is the cores over its CPU
    per message, and c/a = CPU(a) / CPU(c). (c) does what (d) does and the HTTP exchange besides;
    the exchange costs (a) CPU(a) per message, and Salvo at least as much, so
    CPU(c) >= CPU(d) + CPU(a) and c/a <= CPU(a) / (CPU(a) + CPU(d)).
    """
    out = []
    for a, d in zip(results.get("ceiling", []), results.get("dry", []), strict=False):
        cpu_a, cpu_d = cpu_per_message(a), cpu_per_message(d)
        if cpu_a and cpu_d:
            out.append(cpu_a / (cpu_a + cpu_d))
    return out


def exchange_costs(results: dict[str, list[Result]]) -> list[float]:
    """What the HTTP exchange cost inside (c), as a multiple of what it cost (a), round by
    round: (CPU(c) - CPU(d)) / CPU(a), 1 when it costs Salvo no more than the ceiling."""
    out = []
    rounds = zip(
        results.get("ceiling", []), results.get("salvo", []), results.get("dry", []), strict=False
    )
    for a, c, d in rounds:
        cpu_a, cpu_c, cpu_d = cpu_per_message(a), cpu_per_message(c), cpu_per_message(d)
        if cpu_a and cpu_c and cpu_d:
            out.append((cpu_c - cpu_d) / cpu_a)
    return out


def report(console: Console, results: dict[str, list[Result]], n: int) -> bool:
    """Print the figures, details and ratios; False when a ledger check failed."""
    rounds = max((len(rs) for rs in results.values()), default=0)
    table = Table(title=f"Salvo throughput: {n:,} messages over 4 providers, {rounds} round(s)")
    for col in ("run", "round"):
        table.add_column(col)
    for col in ("messages", "seconds", "msgs/s", "accepted", "duplicates"):
        table.add_column(col, justify="right")
    ok = True
    for key, label in LABELS.items():
        for i, r in enumerate(results.get(key, []), 1):
            lc = r.ledger
            if lc is not None and not lc.ok:
                ok = False
            dup = "-" if lc is None else str(lc.duplicates)
            if lc is not None and not lc.ok:
                dup = f"[bold red]{dup} (!)[/]"
            accepted = "-" if lc is None else f"{lc.accepted:,}"
            table.add_row(
                label,
                str(i),
                f"{r.messages:,}",
                f"{r.seconds:.2f}",
                f"{r.rate:,.0f}",
                accepted,
                dup,
            )
    console.print(table)

    for key, label in LABELS.items():
        for i, r in enumerate(results.get(key, []), 1):
            console.print(
                f"[bold]{label}[/], round {i}: " + "; ".join(_details(r)), highlight=False
            )

    ratios = Table(title="Ratios, each round's runs against each other; the verdict on the median")
    for col in ("ratio", "by round", "median", "target", "verdict"):
        ratios.add_column(col)
    for name, num, den, target in (
        ("c / a  Salvo / ceiling", "salvo", "ceiling", TARGET_CEILING),
        ("c / b  Salvo / naive", "salvo", "naive", TARGET_NAIVE),
    ):
        values = ratios_by_round(results, num, den)
        if not values:
            ratios.add_row(name, "-", "-", f">= {target:g}", "not measured")
            continue
        mid = statistics.median(values)
        verdict = "[bold green]met[/]" if mid >= target else "[bold red]not met[/]"
        each = ", ".join(f"{v:.2f}" for v in values)
        ratios.add_row(name, each, f"{mid:.2f}", f">= {target:g}", verdict)
    joint = joint_bound(results)
    if joint is not None:
        # Both targets at once: c >= 10 b is c/a >= 10 b/a, so the naive baseline's speed
        # relative to the ceiling decides which of the two targets is the harder one.
        each = ", ".join(f"{v:.2f}" for v in ratios_by_round(results, "ceiling", "naive"))
        ratios.add_row(
            "a / b  ceiling / naive",
            each,
            f"{statistics.median(ratios_by_round(results, 'ceiling', 'naive')):.2f}",
            "-",
            f"both targets need c/a >= {joint:.2f}",
        )
    bounds = bounds_by_round(results)
    if bounds:
        # What the bookkeeping alone leaves of the ceiling, whatever the HTTP exchange costs.
        mid = statistics.median(bounds)
        needs = (1 - TARGET_CEILING) / TARGET_CEILING
        ratios.add_row(
            "c / a at most, from (d)",
            ", ".join(f"{v:.2f}" for v in bounds),
            f"{mid:.2f}",
            "-",
            f"{TARGET_CEILING:g} needs CPU(d) <= {needs:.2f} x CPU(a)",
        )
    costs = exchange_costs(results)
    if costs:
        ratios.add_row(
            "HTTP in (c) / in (a)",
            ", ".join(f"{v:.2f}" for v in costs),
            f"{statistics.median(costs):.2f}",
            "-",
            "(CPU(c) - CPU(d)) / CPU(a)",
        )
    learnt, ceilings = results.get("salvo-learnt", []), results.get("ceiling", [])
    if learnt and ceilings:
        a = statistics.median(r.rate for r in ceilings)
        ratios.add_row(
            "c' / a  (diagnostic)", "-", f"{learnt[0].rate / a:.2f}", "-", "rate learnt from 2/s"
        )
    console.print(ratios)
    return ok
