"""The demo's report: what was accepted, failed and waited, checked against the sandbox."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from producer.api import Producer
from producer.campaign import BlastReport
from producer.overview import overview
from salvo.local import SandboxControl
from sms import keys
from sms.message import Status

ACCEPTED = (Status.SENT.value, Status.DELIVERED.value)


def per_second(rate: float) -> str:
    """A rate, short."""
    return f"{rate:,.1f}/s" if rate < 100_000 else f"{rate:.1e}/s"


def fetch_ledger(sandbox_url: str) -> list[dict[str, Any]]:
    """Every message the sandbox accepted, in arrival order."""
    return SandboxControl(sandbox_url).ledger()


def scan_records(producer: Producer, campaigns: set[str]) -> tuple[Counter[str], int]:
    """Reasons of the campaigns' failed messages, and how many accepted ones took more than one
    attempt (a scan of every record: fine at demo scale)."""
    reasons: Counter[str] = Counter()
    retried = 0
    found = list(producer.redis.scan_iter(match=keys.message("*"), count=1000))
    pipe = producer.redis.pipeline(transaction=False)
    for key in found:
        pipe.hmget(key, "status", "reason", "campaign", "attempts")
    for status, reason, campaign, attempts in pipe.execute():
        if campaign not in campaigns:
            continue
        if status == Status.FAILED.value:
            reasons[reason or "no reason"] += 1
        elif status in ACCEPTED and int(attempts or 0) > 1:
            retried += 1
    return reasons, retried


def busiest_second(ledger: list[dict[str, Any]]) -> dict[str, int]:
    """The most messages each provider received in any one second (a sliding window)."""
    times: dict[str, list[float]] = {}
    for e in ledger:
        times.setdefault(e["provider"], []).append(e["received_at"])
    out: dict[str, int] = {}
    for provider, stamps in times.items():
        stamps.sort()
        most, first = 0, 0
        for last, at in enumerate(stamps):
            while at - stamps[first] >= 1.0:
                first += 1
            most = max(most, last - first + 1)
        out[provider] = most
    return out


@dataclass(frozen=True)
class Run:
    """What the demo did, for its report."""

    producer: Producer
    reports: dict[str, BlastReport]  # per account
    counts: Counter[str]  # the campaigns' messages by status
    duration: float
    sandbox_url: str
    sandbox_limits: dict[str, int | None]  # per account, requests per second


def report(console: Console, run: Run) -> dict[str, Any]:
    """Print the report's tables, checked against the sandbox; returns its figures."""
    reports, counts = run.reports, run.counts
    ledger = fetch_ledger(run.sandbox_url)
    seen = Counter((e["provider"], e["to"], e["body"]) for e in ledger)
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    failed: Counter[str] = Counter()
    for r in reports.values():
        for reason, n in r.reasons.items():
            failed[f"rejected before sending: {reason}"] += n
    reasons, retried = scan_records(run.producer, {r.campaign for r in reports.values()})
    failed.update(reasons)
    accepted = sum(counts.get(s, 0) for s in ACCEPTED)
    unknown = counts.get(Status.UNKNOWN.value, 0)
    rows = sum(r.rows for r in reports.values())
    accounts = _accounts(run, SandboxControl(run.sandbox_url).stats(), ledger)
    limited = sum(a["rate_limited"] for a in accounts.values())

    table = Table(title="Salvo demo report", show_header=False)
    table.add_column(ratio=1)
    table.add_column(no_wrap=True)
    table.add_row("rows in the campaign files", f"{rows:,}")
    table.add_row("accepted by providers", f"{accepted:,}")
    for reason, n in sorted(failed.items(), key=lambda kv: -kv[1]):
        table.add_row(f"failed: {reason}", f"{n:,}")
    table.add_row("unknown (held for reconciliation)", f"{unknown:,}")
    table.add_row("duration", f"{run.duration:.1f} s")
    table.add_row("rate", f"{accepted / run.duration:,.0f} msg/s accepted")
    table.add_row("rate-limit answers, all providers", f"{limited:,}")
    table.add_row(
        "accepted messages that took more than one attempt",
        f"{retried:,}" + (": rate-limit answers cost no attempts" if not retried else ""),
    )
    table.add_row("sandbox ledger entries", f"{len(ledger):,}")
    table.add_row("duplicates in the sandbox's ledger", f"{duplicates:,}")
    console.print(table)
    console.print(_accounts_table(accounts))
    return {
        "rows": rows,
        "accepted": accepted,
        "failed": dict(failed),
        "unknown": unknown,
        "duplicates": duplicates,
        "ledger": len(ledger),
        "duration": run.duration,
        "rate_limited": limited,
        "attempts_spent_on_rate_limits": retried,
        "accounts": accounts,
    }


def _accounts(
    run: Run, sandbox_stats: dict[str, Any], ledger: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Per account: its limits, what it got accepted, the rate-limit answers, what it learnt."""
    info = overview(run.producer.redis, run.producer.settings)["accounts"]
    busiest = busiest_second(ledger)
    out: dict[str, dict[str, Any]] = {}
    for account, r in run.reports.items():
        raw = run.producer.redis.hgetall(keys.campaign_counts(r.campaign))
        counts = {k: int(v) for k, v in raw.items()}
        a = info[account]
        kind = a["kind"] or account
        out[account] = {
            "sandbox_limit": run.sandbox_limits.get(account),
            "configured_rate": a["rate"],
            "accepted": sum(counts.get(s, 0) for s in ACCEPTED),
            "busiest_second": busiest.get(kind, 0),
            "rate_limited": a["counters"]["outcome:rate_limited"],
            "sandbox_rate_limited": sandbox_stats.get(kind, {}).get("rate_limited", 0),
            "learnt_rate": a["learnt_rate"],
            "ceiling": a["ceiling"],
        }
    return out


def _accounts_table(accounts: dict[str, dict[str, Any]]) -> Table:
    """One column per account, one row per figure."""
    table = Table(title="per account")
    table.add_column("")
    for name in accounts:
        table.add_column(name, justify="right", no_wrap=True)

    def rate(value: float | None) -> str:
        return "-" if value is None else per_second(value)

    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("provider's limit (sandbox)", lambda a: rate(a["sandbox_limit"])),
        ("configured rate", lambda a: rate(a["configured_rate"])),
        ("accepted", lambda a: f"{a['accepted']:,}"),
        ("most accepted in one second", lambda a: f"{a['busiest_second']:,}"),
        ("rate-limit answers", lambda a: f"{a['rate_limited']:,}"),
        ("  as the sandbox counted", lambda a: f"{a['sandbox_rate_limited']:,}"),
        ("learnt rate", lambda a: rate(a["learnt_rate"])),
        ("limit met at", lambda a: rate(a["ceiling"])),
    ]
    for label, cell in rows:
        table.add_row(label, *(cell(a) for a in accounts.values()))
    return table
