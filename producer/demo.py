"""`salvo demo`: the whole system on this machine, a campaign through all four providers.

It starts a private embedded server, the sandbox and a worker; writes one CSV per provider
(a few rows deliberately bad, a few recipients that the sandbox answers as opted out, invalid or
blocked); blasts them; shows progress; and ends with a report checked against the sandbox's
ledger. Everything it started stops when it ends, Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import csv
import json
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from producer.api import Producer
from producer.campaign import BlastReport, BlastSpec, blast
from producer.local import (
    redis_server,
    sandbox_accounts,
    sandbox_process,
    worker_process,
    write_config,
)
from sms import keys
from sms.message import TERMINAL, Status
from sms.settings import Settings

AREAS = (201, 202, 212, 305, 312, 415, 617, 702, 713, 818)
MAGIC = ("+15005550001", "+15005550002", "+15005550003")  # opted out, invalid, blocked
SENDERS = {
    "justcall": "+14155550100",
    "carrierx": "+14155550101",
    "textingline": "+14155550102",
    "skycore": "+14155550103",
}
TEMPLATE = "Hi {first_name}, your Salvo demo message #{n} is here."
NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Ken", "Margaret", "Linus", "Radia")
FINISHED = {s.value for s in TERMINAL} | {Status.UNKNOWN.value}


def write_csv(path: Path, rows: int, offset: int) -> None:
    """A campaign file: `rows` recipients, every 500th one magic, every 1000th one malformed."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "first_name", "n"])
        for i in range(rows):
            n = offset + i
            if i % 1000 == 999:
                w.writerow([f"555-{n:04d}", NAMES[n % 10], n])  # no country code: rejected
            elif i % 500 == 499:
                w.writerow([MAGIC[(i // 500) % 3], NAMES[n % 10], n])
            else:
                w.writerow([f"+1{AREAS[n % 10]}555{n // 10 % 10000:04d}", NAMES[n % 10], n])


def _ledger(sandbox_url: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    since = 0
    while True:
        with urllib.request.urlopen(f"{sandbox_url}/_sandbox/ledger?since={since}") as resp:
            page = json.load(resp)
        entries += page["entries"]
        if not page["entries"]:
            return entries
        since = page["next"]


def run_demo(messages: int = 10_000, console: Console | None = None) -> dict[str, Any]:
    """Run the demo end to end and print its report; returns the report's figures."""
    console = console or Console()
    per_provider = messages // len(SENDERS)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="salvo-demo-")))
        console.print("[bold]Salvo demo[/]: starting an embedded server, the sandbox and a worker")
        redis_url = stack.enter_context(redis_server(tmp / "redis"))
        sandbox_url = stack.enter_context(sandbox_process())
        providers = sandbox_accounts(sandbox_url)
        config = write_config(tmp / "salvo.toml", redis_url, providers)
        stack.enter_context(worker_process(config, redis_url, ("--concurrency", "2")))
        settings = Settings.load(config)
        producer = Producer(settings)
        stack.callback(producer.close)

        started = time.monotonic()
        reports: list[BlastReport] = []
        for index, account in enumerate(SENDERS):
            path = tmp / f"{account}.csv"
            write_csv(path, per_provider, index * per_provider)
            spec = BlastSpec(account=account, sender=SENDERS[account], template=TEMPLATE)
            reports.append(blast(producer, path, spec))
        enqueued = sum(r.enqueued for r in reports)
        counts = _follow(producer, [r.campaign for r in reports], enqueued, console)
        duration = time.monotonic() - started
        ledger = _ledger(sandbox_url)
        return _report(console, reports, counts, ledger, duration, producer)
    raise AssertionError("unreachable")


def _campaign_counts(producer: Producer, campaigns: list[str]) -> Counter[str]:
    total: Counter[str] = Counter()
    for c in campaigns:
        raw = cast(dict[str, str], producer.redis.hgetall(keys.campaign_counts(c)))
        for k, v in raw.items():
            total[k] += int(v)
    return total


def _follow(
    producer: Producer, campaigns: list[str], enqueued: int, console: Console
) -> Counter[str]:
    columns = (
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("send", total=enqueued, rate="")
        t0 = time.monotonic()
        while True:
            counts = _campaign_counts(producer, campaigns)
            done = sum(v for k, v in counts.items() if k in FINISHED)
            rate = done / max(time.monotonic() - t0, 1e-6)
            bar.update(task, completed=done, rate=f"{rate:,.0f} msg/s")
            if done >= enqueued:
                return counts
            time.sleep(0.25)


def _report(
    console: Console,
    reports: list[BlastReport],
    counts: Counter[str],
    ledger: list[dict[str, Any]],
    duration: float,
    producer: Producer,
) -> dict[str, Any]:
    seen = Counter((e["provider"], e["to"], e["body"]) for e in ledger)
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    failed = Counter[str]()
    for r in reports:
        for reason, n in r.reasons.items():
            failed[f"rejected before sending: {reason}"] += n
    reasons = _failure_reasons(producer, [r.campaign for r in reports])
    failed.update(reasons)
    accepted = counts.get(Status.SENT.value, 0) + counts.get(Status.DELIVERED.value, 0)
    table = Table(title="Salvo demo report", show_header=False)
    table.add_row("rows in the campaign files", f"{sum(r.rows for r in reports):,}")
    table.add_row("accepted by providers", f"{accepted:,}")
    for reason, n in sorted(failed.items(), key=lambda kv: -kv[1]):
        table.add_row(f"failed: {reason}", f"{n:,}")
    table.add_row("unknown (held for reconciliation)", f"{counts.get(Status.UNKNOWN.value, 0):,}")
    table.add_row("duration", f"{duration:.1f} s")
    table.add_row("rate", f"{accepted / duration:,.0f} msg/s accepted")
    table.add_row("sandbox ledger entries", f"{len(ledger):,}")
    table.add_row("duplicates in the sandbox's ledger", f"{duplicates:,}")
    console.print(table)
    return {
        "accepted": accepted,
        "failed": dict(failed),
        "duplicates": duplicates,
        "ledger": len(ledger),
        "duration": duration,
        "unknown": counts.get(Status.UNKNOWN.value, 0),
    }


def _failure_reasons(producer: Producer, campaigns: list[str]) -> Counter[str]:
    """Reasons of failed messages, read from their records (a scan: fine at demo scale)."""
    reasons: Counter[str] = Counter()
    campaign_set = set(campaigns)
    pipe_ids: list[str] = []
    for key in producer.redis.scan_iter(match=keys.message("*"), count=1000):
        pipe_ids.append(key)
    pipe = producer.redis.pipeline(transaction=False)
    for key in pipe_ids:
        pipe.hmget(key, "status", "reason", "campaign")
    for status, reason, campaign in pipe.execute():
        if status == Status.FAILED.value and campaign in campaign_set:
            reasons[reason or "no reason"] += 1
    return reasons
