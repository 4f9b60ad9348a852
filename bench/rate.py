"""`python -m bench.rate`: do shared rate limits hold, and do they leave nothing on the table?

Two `salvo worker` processes (their defaults) share one account that points at the sandbox.
Three runs, each measured from the sandbox's own record of arrivals:

precision  account at 20/s, burst 5; sandbox allows 25/s. Most arrivals in any one-second window
           (must be <= 25), overall rate (within 3 % of 20/s), rate-limit answers (0).
overload   account at 50/s; sandbox allows 20/s. Every message accepted exactly once, total time
           within 15 % of the ideal (N / 20 s), attempts spent by rate limiting (0).
learnt     no rate configured; sandbox allows 20/s. Goodput after the first 20 s (>= 90 % of 20/s).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from rich.console import Console
from rich.table import Table

from producer.api import Producer
from salvo.local import (
    SandboxControl,
    redis_server,
    sandbox_accounts,
    sandbox_process,
    worker_process,
    write_config,
)
from sms import keys
from sms.message import TERMINAL, Message, Status
from sms.settings import Settings

PROVIDER = "textingline"
SENDER = "+14155550102"
SANDBOX_RATE = {"limit": 20, "window": 1}


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most timestamps in any half-open window of `window` seconds."""
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def run_one(
    producer: Producer, sandbox: str, account: str, count: int, sandbox_limit: dict[str, int]
) -> dict[str, Any]:
    """Send `count` messages through `account` and read back what the sandbox saw."""
    control = SandboxControl(sandbox)
    control.configure(PROVIDER, rate_limit=sandbox_limit)
    control.reset()
    campaign = f"rate-{account}-{int(time.time())}"
    messages = [
        Message(
            account=account,
            to=f"+1312555{i:04d}",
            sender=SENDER,
            body=f"rate {i}",
            campaign=campaign,
        )
        for i in range(count)
    ]
    producer.redis.hset(keys.campaign(campaign), mapping={"state": "running"})
    started = time.time()
    producer.send_many(messages)
    finished = {s.value for s in TERMINAL} | {Status.UNKNOWN.value}
    while True:
        counts = producer.redis.hgetall(keys.campaign_counts(campaign))
        if sum(int(v) for k, v in counts.items() if k in finished) >= count:
            break
        time.sleep(0.2)
    elapsed = time.time() - started
    arrivals = control.arrivals(PROVIDER)
    accepted = sorted(a[0] for a in arrivals if a[2] == "accepted")
    limited = sum(1 for a in arrivals if a[2] == "rate_limited")
    ledger = Counter(e["to"] for e in control.ledger(PROVIDER))
    pipe = producer.redis.pipeline(transaction=False)
    for m in messages:
        pipe.hmget(keys.message(m.id), "status", "attempts")
    records = pipe.execute()
    return {
        "elapsed": elapsed,
        "accepted": accepted,
        "rate_limited": limited,
        "duplicates": sum(n - 1 for n in ledger.values() if n > 1),
        "missing": count - len(ledger),
        "sent": sum(1 for status, _ in records if status == Status.SENT.value),
        "extra_attempts": sum(int(a) - 1 for status, a in records if status == Status.SENT.value),
        "first": accepted[0] if accepted else started,
        "limited_at": [a[0] - accepted[0] for a in arrivals if a[2] == "rate_limited"]
        if accepted
        else [],
    }


Row = Callable[[str, str, str, str, bool], None]


def precision(console: Console, producer: Producer, sandbox: str, n: int, row: Row) -> None:
    """Account at 20/s burst 5 against a sandbox allowing 25/s."""
    console.print("precision: account 20/s burst 5, sandbox allows 25/s ...")
    p = run_one(producer, sandbox, "precise", n, {"limit": 25, "window": 1})
    peak = max_in_window(p["accepted"])
    span = p["accepted"][-1] - p["accepted"][0]
    rate = (len(p["accepted"]) - 1) / span if span > 0 else float("nan")
    row("precision", "most in any 1 s window", str(peak), "<= 25", peak <= 25)
    row("precision", "overall rate", f"{rate:.2f}/s", "20/s +- 3 %", abs(rate - 20) <= 0.6)
    row("precision", "rate-limit answers", str(p["rate_limited"]), "0", p["rate_limited"] == 0)
    if p["limited_at"]:
        console.print(
            "rate-limited at (s after the first arrival):", [round(t, 3) for t in p["limited_at"]]
        )


def overload(console: Console, producer: Producer, sandbox: str, n: int, row: Row) -> None:
    """Account at 50/s against a sandbox allowing 20/s."""
    console.print("overload: account 50/s, sandbox allows 20/s ...")
    o = run_one(producer, sandbox, "overload", n, SANDBOX_RATE)
    ideal = n / 20
    row(
        "overload",
        "accepted exactly once",
        f"{o['sent']} sent, {o['duplicates']} dup, {o['missing']} lost",
        f"{n}, 0, 0",
        o["sent"] == n and not o["duplicates"] and not o["missing"],
    )
    row(
        "overload",
        "total time",
        f"{o['elapsed']:.1f} s (ideal {ideal:.0f} s)",
        "within 15 %",
        o["elapsed"] <= ideal * 1.15,
    )
    row("overload", "rate-limit answers received", str(o["rate_limited"]), "(any)", True)
    row(
        "overload",
        "attempts spent by rate limiting",
        str(o["extra_attempts"]),
        "0",
        o["extra_attempts"] == 0,
    )


def learnt(console: Console, producer: Producer, sandbox: str, n: int, row: Row) -> None:
    """No rate configured against a sandbox allowing 20/s."""
    console.print("learnt: no rate configured, sandbox allows 20/s ...")
    lr = run_one(producer, sandbox, "learner", n, SANDBOX_RATE)
    after = [t for t in lr["accepted"] if t >= lr["first"] + 20]
    goodput = (len(after) - 1) / (after[-1] - after[0]) if len(after) > 1 else 0.0
    row(
        "learnt",
        "goodput after the first 20 s",
        f"{goodput:.2f}/s ({goodput / 20:.0%})",
        ">= 90 % of 20/s",
        goodput >= 18,
    )
    row("learnt", "rate-limit answers received", str(lr["rate_limited"]), "(any)", True)
    row(
        "learnt",
        "attempts spent by rate limiting",
        str(lr["extra_attempts"]),
        "0",
        lr["extra_attempts"] == 0,
    )


def main(argv: list[str] | None = None) -> None:
    """Run the three measurements (or one) and print them with their targets."""
    parser = argparse.ArgumentParser(prog="python -m bench.rate", description=__doc__)
    parser.add_argument("--messages", type=int, default=1200, help="messages per run")
    parser.add_argument(
        "--only", choices=("precision", "overload", "learnt"), help="run one of the three"
    )
    args = parser.parse_args(argv)
    n = args.messages
    console = Console()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="salvo-bench-rate-")))
        redis_url = stack.enter_context(redis_server(tmp / "redis"))
        sandbox = stack.enter_context(sandbox_process())
        base = sandbox_accounts(sandbox)[PROVIDER]
        providers = {
            "precise": {**base, "rate": 20.0, "burst": 5},
            "overload": {**base, "rate": 50.0, "burst": 5},
            "learner": dict(base),
        }
        config = write_config(tmp / "salvo.toml", redis_url, providers)
        for name in ("w1", "w2"):
            stack.enter_context(worker_process(config, redis_url, ("-n", f"{name}@%h")))
        producer = Producer(Settings.load(config))
        stack.callback(producer.close)
        table = Table(title=f"Shared rate limits: {n} messages a run, two workers")
        for col in ("run", "measure", "value", "target", ""):
            table.add_column(col)

        def row(run: str, measure: str, value: str, target: str, ok: bool) -> None:
            table.add_row(run, measure, value, target, "[green]met[/]" if ok else "[red]not met[/]")

        runs = {"precision": precision, "overload": overload, "learnt": learnt}
        for name, run in runs.items():
            if args.only in (None, name):
                run(console, producer, sandbox, n, row)
        console.print(table)
        r = redis.Redis.from_url(redis_url, decode_responses=True)
        console.print("learnt rates:", {a: r.hget(keys.learnt_rate(a), "rate") for a in providers})
        r.close()


if __name__ == "__main__":
    main()
