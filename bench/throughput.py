"""`python -m bench.throughput`: Salvo's throughput against its ceiling and a naive baseline.

One run starts one private embedded server and one sandbox (no rate limit, no faults) and
measures, with the same N messages spread over the four providers:

(a) ceiling: a raw aiohttp loop in its own process posting the adapters' own requests;
(b) naive: one Celery task per message, a fresh aiohttp session in `asyncio.run` per task
    (bench/naive.py), prefork with two processes;
(c) Salvo: `Producer.send_many` -> two `salvo worker`s (defaults) -> sandbox -> status recorded,
    every account configured with a rate far above what this machine can send (the sandbox has
    no limit), as a user configures an account whose limit is known;
(d) bookkeeping alone: (c) with every provider call answered "accepted" at once
    (bench/dry_worker.py), so no HTTP exchange: what Salvo's own work costs per message;
(c') diagnostic: (c) again with no rate configured, so every account learns its rate from 2/s.

From (a) and (d), measured in the same round, it prints the most c/a can be on this machine
while the bookkeeping costs what (d) measured: CPU(a) / (CPU(a) + CPU(d)) per message, the
HTTP exchange costing Salvo no less than it costs the ceiling.

The sandbox is reset before each run and its ledger checked after it: every message must be
accepted exactly once. The figures to read are the ratios c/a and c/b, measured in the same run
on the same machine; absolute msgs/s depend on the machine and how busy it is.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from bench.report import LABELS, report
from bench.runs import (
    CONFIGURED_RATE,
    DEFAULT_MESSAGES,
    IN_FLIGHT,
    NAIVE_MAX,
    QUICK_MESSAGES,
    ROUNDS,
    BenchError,
    Result,
    Sandbox,
    run_ceiling,
    run_naive,
    run_salvo,
)
from salvo.local import (
    redis_server,
    sandbox_process,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the measurements in one go and print them; 0 unless a run went wrong."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="N (default 20000)")
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_MESSAGES:,}")
    parser.add_argument(
        "--naive-max", type=int, default=NAIVE_MAX, help="cap on the naive run's messages"
    )
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT, help="ceiling's concurrency")
    parser.add_argument(
        "--rate", type=float, default=CONFIGURED_RATE, help="per-account rate of the run (c)"
    )
    parser.add_argument(
        "--rounds", type=int, default=ROUNDS, help=f"rounds of (a), (b), (c) (default {ROUNDS})"
    )
    parser.add_argument("--no-diagnostic", action="store_true", help="skip the run (c')")
    parser.add_argument("--no-bound", action="store_true", help="skip the runs (d)")
    args = parser.parse_args(argv)
    n = QUICK_MESSAGES if args.quick else args.messages
    if n < 1 or args.rate <= 0 or args.rounds < 1:
        parser.error("--messages, --rate and --rounds must be positive")
    n_naive = max(1, min(n, args.naive_max))

    console = Console(width=max(100, Console().width))
    results: dict[str, list[Result]] = {}
    started = time.monotonic()
    # Ctrl-C reaches the children too, and one may die before this process notices: whatever
    # error follows a SIGINT is reported as the interruption it is.
    interrupted = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with contextlib.ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="salvo-bench-")))
            console.print(f"[bold]Salvo throughput[/]: {n:,} messages, {os.cpu_count()} cores")
            redis_url = stack.enter_context(redis_server(tmp / "redis"))
            sandbox = Sandbox(stack.enter_context(sandbox_process()))

            def step(key: str, what: str, run: Callable[[], Result]) -> Result:
                console.print(f"{LABELS[key]}{what} ...", highlight=False)
                result = run()
                results.setdefault(key, []).append(result)
                console.print(f"    {result.rate:,.0f} msgs/s", highlight=False)
                return result

            # The machine's speed drifts from minute to minute: each round measures (a), (b)
            # and (c) back to back, so that each ratio compares runs made close together.
            capped = "" if n_naive == n else f", capped at {n_naive:,} of {n:,} (it is slow)"
            for i in range(1, args.rounds + 1):
                if args.rounds > 1:
                    console.print(f"[bold]round {i} of {args.rounds}[/]")
                step(
                    "ceiling",
                    f", {args.in_flight} in flight",
                    lambda: run_ceiling(sandbox, n, args.in_flight),
                )
                naive_run = step(
                    "naive", capped, lambda: run_naive(sandbox, redis_url, n_naive, tmp)
                )
                if n_naive != n:
                    naive_run.notes.insert(0, f"capped at {n_naive:,} of {n:,} messages")
                step(
                    "salvo",
                    f", every account at rate = {args.rate:g}/s",
                    lambda: run_salvo(sandbox, redis_url, n, tmp, rate=args.rate),
                )
                if not args.no_bound:
                    step(
                        "dry",
                        ", every provider call answered by the worker itself",
                        lambda: run_salvo(sandbox, redis_url, n, tmp, rate=args.rate, dry=True),
                    )
            if not args.no_diagnostic:
                # A database of its own, so nothing of (c) carries over.
                db3 = redis_url.rsplit("/", 1)[0] + "/3"
                step(
                    "salvo-learnt",
                    ", no rate configured (learnt from 2/s)",
                    lambda: run_salvo(sandbox, db3, n, tmp),
                )
    except (Exception, KeyboardInterrupt) as exc:
        if interrupted.is_set():
            console.print("[yellow]interrupted; everything the benchmark started has stopped[/]")
            return 130
        if not isinstance(exc, BenchError):
            raise
        report(console, results, n)
        console.print(f"[bold red]benchmark failed:[/] {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    ok = report(console, results, n)
    console.print(f"whole benchmark: {time.monotonic() - started:.0f} s", highlight=False)
    if not ok:
        console.print("[bold red]a run's ledger is wrong: lost or duplicated messages[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
