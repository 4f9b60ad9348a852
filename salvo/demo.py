"""`salvo demo`: the whole system on this machine, a campaign through all four providers.

It starts a private embedded server, the sandbox and a worker; writes one CSV per provider
(a few rows deliberately bad, a few recipients that the sandbox answers as opted out, invalid or
blocked); blasts them; shows progress; and ends with a report checked against the sandbox's
ledger. The sandbox limits three of the providers, and each account meets its limit its own way
(PACES), so the campaign visibly waits on rate limits. Everything it started stops when it ends,
Ctrl-C included.
"""

from __future__ import annotations

import contextlib
import csv
import signal
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from producer.api import Producer
from producer.campaign import BlastReport, BlastSpec, blast
from producer.overview import overview
from salvo.demo_report import Run, per_second, report
from salvo.local import (
    redis_server,
    sandbox_accounts,
    sandbox_process,
    worker_process,
    write_config,
)
from sms import campaigns, keys
from sms.message import TERMINAL, Status
from sms.plural import counted
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
RATE_WINDOW = 2.0  # seconds over which the progress bar measures the current rate


@dataclass(frozen=True, slots=True)
class Pace:
    """How one demo account meets its provider's limit."""

    sandbox: int | None  # requests per second the sandbox allows (None: no limit)
    rate: float | None = None  # the account's configured rate (None: learnt)
    burst: int | None = None
    note: str = ""


PACES = {
    "justcall": Pace(80, rate=60, burst=10, note="configured 60/s, under the provider's 80/s"),
    "carrierx": Pace(80, note="no rate configured: learns the provider's 80/s"),
    "textingline": Pace(80, rate=200, note="configured 200/s, above the provider's 80/s"),
    "skycore": Pace(None, note="no limit anywhere: its learnt rate keeps growing"),
}


def write_csv(path: Path, rows: range, offset: int) -> None:
    """Rows `rows` of a campaign file: every 500th recipient magic, every 1000th malformed."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["phone", "first_name", "n"])
        for i in rows:
            n = offset + i
            if i % 1000 == 999:
                w.writerow([f"555-{n:04d}", NAMES[n % 10], n])  # no country code: rejected
            elif i % 500 == 499:
                w.writerow([MAGIC[(i // 500) % 3], NAMES[n % 10], n])
            else:
                w.writerow([f"+1{AREAS[n % 10]}555{n // 10 % 10000:04d}", NAMES[n % 10], n])


def sandbox_config() -> dict[str, Any]:
    """The sandbox's limits: PACES, over one-second windows."""
    return {
        name: {"rate_limit": {"limit": pace.sandbox, "window": 1}}
        for name, pace in PACES.items()
        if pace.sandbox is not None
    }


def demo_accounts(sandbox_url: str) -> dict[str, dict[str, Any]]:
    """The four sandbox accounts, each with the rate and burst its pace configures."""
    accounts = sandbox_accounts(sandbox_url)
    for name, pace in PACES.items():
        limits = {"rate": pace.rate, "burst": pace.burst}
        accounts[name].update({k: v for k, v in limits.items() if v is not None})
    return accounts


def main(messages: int = 10_000) -> int:
    """`salvo demo`: run the demo; Ctrl-C (or SIGTERM, SIGHUP) stops everything it started.

    The children see a Ctrl-C too, and one may end before this process notices: whatever error
    follows the signal is reported as the interruption it is. Returns the exit status.
    """
    console = Console()
    interrupted = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if not interrupted.is_set():  # once: a second Ctrl-C must not cut the cleanup short
            interrupted.set()
            raise KeyboardInterrupt

    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, stop) for sig in signals}
    try:
        run_demo(messages, console)
    except (Exception, KeyboardInterrupt):
        if not interrupted.is_set():
            raise
        console.print("[yellow]interrupted: everything the demo started has stopped[/]")
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def run_demo(messages: int = 10_000, console: Console | None = None) -> dict[str, Any]:
    """Run the demo end to end and print its report; returns the report's figures."""
    console = console or Console()
    per_provider = messages // len(SENDERS)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="salvo-demo-")))
        console.print("[bold]Salvo demo[/]: starting an embedded server, the sandbox and a worker")
        redis_url = stack.enter_context(redis_server(tmp / "redis"))
        sandbox_url = stack.enter_context(sandbox_process(sandbox_config()))
        config = write_config(tmp / "salvo.toml", redis_url, demo_accounts(sandbox_url))
        # Four processes on two cores: each spends most of its time waiting for its account's
        # tokens, and a process sends one batch at a time.
        stack.enter_context(worker_process(config, redis_url, ("--concurrency", "4")))
        producer = Producer(Settings.load(config))
        stack.callback(producer.close)
        for name, pace in PACES.items():
            console.print(f"  {name:<12} {pace.note}")

        started = time.monotonic()
        reports = _blast_all(producer, tmp, per_provider)
        counts = _follow(producer, reports, console)
        duration = time.monotonic() - started
        limits = {name: pace.sandbox for name, pace in PACES.items()}
        run = Run(producer, reports, counts, duration, sandbox_url, limits)
        return report(console, run)
    raise AssertionError("unreachable")


def _blast_all(producer: Producer, tmp: Path, per_provider: int) -> dict[str, BlastReport]:
    """Blast the four campaigns at once, as four producers side by side would.

    Each campaign's file is blasted a batch of rows at a time, the campaigns in turn, so their
    batches alternate on the lane; one campaign blasted whole ahead of the others would hold
    every worker process at its account's rate until it is done.
    """
    step = producer.settings.batch_size
    reports: dict[str, BlastReport] = {}
    for start in range(0, per_provider, step):
        rows = range(start, min(start + step, per_provider))
        for index, account in enumerate(SENDERS):
            path = tmp / f"{account}-{start}.csv"
            write_csv(path, rows, index * per_provider)
            spec = BlastSpec(
                account=account,
                sender=SENDERS[account],
                template=TEMPLATE,
                campaign=f"demo-{account}",
                source=f"{account}.csv",
            )
            reports[account] = _merge(reports.get(account), blast(producer, path, spec))
    for r in reports.values():
        campaigns.record_rows(producer.redis, r.campaign, rejected=r.rejected)
    return reports


def _merge(total: BlastReport | None, part: BlastReport) -> BlastReport:
    """Two blasts of one campaign as one."""
    if total is None:
        return part
    reasons = Counter(total.reasons)
    reasons.update(part.reasons)
    return BlastReport(
        total.campaign,
        rows=total.rows + part.rows,
        enqueued=total.enqueued + part.enqueued,
        duplicates=total.duplicates + part.duplicates,
        rejected=total.rejected + part.rejected,
        reasons=dict(reasons),
    )


def _counts(producer: Producer, campaigns: dict[str, str]) -> dict[str, Counter[str]]:
    """Counts by status of each account's campaign."""
    pipe = producer.redis.pipeline(transaction=False)
    for campaign in campaigns.values():
        pipe.hgetall(keys.campaign_counts(campaign))
    return {
        account: Counter({k: int(v) for k, v in cast(dict[str, str], raw).items()})
        for account, raw in zip(campaigns, pipe.execute(), strict=True)
    }


def _note(info: dict[str, Any]) -> str:
    """An account's pace as the progress bar shows it: its rate, answers, and any cooldown."""
    rate, learnt = info["rate"], info["learnt_rate"]
    if learnt is None or (rate is not None and info["ceiling"] is None):
        text = "learning" if rate is None else f"{per_second(rate)} set"
    else:
        text = f"learnt {per_second(learnt if rate is None else min(learnt, rate))}"
    text += f", {info['counters']['outcome:rate_limited']:,} rate-limited"
    held = ", [yellow]cooling[/]" if info["cooldown"] else ""
    held += f", [yellow]{counted(len(info['holds']), 'sender')} held[/]" if info["holds"] else ""
    return text + held


def _follow(producer: Producer, reports: dict[str, BlastReport], console: Console) -> Counter[str]:
    """Show each account's progress, current rate and pace until every message has ended."""
    columns = (
        TextColumn("{task.description:<11}"),
        BarColumn(bar_width=10),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>7}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
    )
    campaigns = {account: r.campaign for account, r in reports.items()}
    with Progress(*columns, console=console) as bar:
        tasks = {
            account: bar.add_task(account, total=r.enqueued, rate="", note="")
            for account, r in reports.items()
        }
        everything = sum(r.enqueued for r in reports.values())
        total = bar.add_task("all", total=everything, rate="", note="")
        history: deque[tuple[float, dict[str, int]]] = deque()
        while True:
            now = time.monotonic()
            per = _counts(producer, campaigns)
            done = {a: sum(v for k, v in c.items() if k in FINISHED) for a, c in per.items()}
            done["all"] = sum(done.values())
            history.append((now, done))
            while now - history[0][0] > RATE_WINDOW:
                history.popleft()
            then, before = history[0]
            view = overview(producer.redis, producer.settings)
            accounts = view["accounts"]
            for name, task in [*tasks.items(), ("all", total)]:
                rate = (done[name] - before[name]) / max(now - then, 1e-6)
                note = _note(accounts[name]) if name in accounts else ""
                if name == "all":
                    note = f"{view['waiting']['later']:,} waiting for their time"
                bar.update(task, completed=done[name], rate=f"{rate:,.0f}/s", note=note)
            if done["all"] >= everything:
                total_counts: Counter[str] = Counter()
                for c in per.values():
                    total_counts.update(c)
                return total_counts
            time.sleep(0.25)
