"""`python -m bench.latency` (`make bench-latency`): reminders under blasts, throughput against a
slow provider, and how much a pause or cancel lets through.

Everything runs here: a private embedded server, the sandbox answering every call after 150 ms
(as real providers do), and two `salvo worker` processes started with no options but a name.
Each figure is printed beside its target:

- Reminders under a blast saturating account A (carrierx kind) at 5/s, 40/s and unlimited: 40
  transactional reminders, one every 0.5 s, alternately on A and on the idle account B
  (textingline kind). A reminder's latency is from `Producer.send` returning to the provider
  accepting it (the sandbox's arrival time plus its 150 ms). Targets: every one on B within
  1 s, every one on A within 2 s.
- Throughput with the 150 ms provider: Salvo end to end (enqueue to the last acceptance) over a
  bare aiohttp loop posting the same requests with the same number of calls in flight (two
  workers times the account's `max_in_flight`). Target: >= 0.9, every message accepted once.
- Control: a blast at 40/s; what the provider accepted after `pause` returned, and after
  `cancel` returned. Target: at most the account's rate x 1 s plus the calls in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.runs import AREAS, _post_all
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
from sms.message import Lane, Message
from sms.providers import adapter_for
from sms.settings import Settings

LATENCY = 0.150  # seconds the sandbox takes to answer every call
REMINDERS = 40
EVERY = 0.5  # seconds between reminders
UNLIMITED = 100_000.0  # a rate no provider call reaches here
SENDER = {"carrierx": "+14155550101", "textingline": "+14155550102"}
TARGET_B, TARGET_A, TARGET_RATIO = 1.0, 2.0, 0.9


@dataclass
class Figures:
    """Every figure of one run, with its verdict."""

    rows: list[tuple[str, str, str, bool]] = field(default_factory=list)

    def add(self, what: str, value: str, target: str, ok: bool) -> None:
        self.rows.append((what, value, target, ok))


def message(account: str, kind: str, i: int, lane: Lane, campaign: str | None = None) -> Message:
    return Message.model_validate(
        {
            "account": account,
            "to": f"+1{AREAS[i % 10]}555{i // 10 % 10000:04d}",
            "from": SENDER[kind],
            "body": f"{account} {lane.value} {i}",
            "lane": lane,
            "campaign": campaign,
        }
    )


@contextlib.contextmanager
def stack(tmp: Path, url: str, db: int, accounts: dict[str, dict[str, Any]]) -> Iterator[Producer]:
    """Two `salvo worker` processes on database `db` with `accounts`; a producer for them."""
    db_url = f"{url.rsplit('/', 1)[0]}/{db}"
    config = write_config(tmp / f"salvo-{db}.toml", db_url, accounts)
    with (
        worker_process(config, db_url, ("-n", f"one-{db}@%h")),
        worker_process(config, db_url, ("-n", f"two-{db}@%h")),
    ):
        producer = Producer(Settings.load(config))
        try:
            yield producer
        finally:
            producer.close()


def accepted_at(sandbox: SandboxControl) -> dict[str, float]:
    """Body -> when the provider accepted it (arrival plus the sandbox's latency)."""
    return {e["body"]: float(e["received_at"]) + LATENCY for e in sandbox.ledger()}


def start_campaign(producer: Producer, account: str, kind: str, n: int, start: int) -> str:
    campaign = f"bench{time.time_ns()}"
    producer.redis.hset(keys.campaign(campaign), mapping={"state": "running", "account": account})
    chunk = [message(account, kind, start + i, Lane.BULK, campaign) for i in range(n)]
    producer.send_many(chunk)
    return campaign


def wait_accepted(sandbox: SandboxControl, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sandbox.accepted() < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {sandbox.accepted()} of {n} accepted within {timeout} s")
        time.sleep(0.05)


def reminders_under_blast(
    tmp: Path, url: str, db: int, sandbox: SandboxControl, rate: float | None, out: Figures
) -> None:
    """40 reminders, alternately on the blasted account A and on idle B."""
    sandbox.reset()
    providers = sandbox_accounts(sandbox.url, timeout=5.0)
    a = {**providers["carrierx"], "rate": rate or UNLIMITED}
    if rate is not None:
        a["burst"] = max(1, int(rate))
    accounts = {"a": a, "b": {**providers["textingline"]}}
    per_second = rate or 900.0
    n = int(per_second * (REMINDERS * EVERY + 5))
    with stack(tmp, url, db, accounts) as producer:
        campaign = start_campaign(producer, "a", "carrierx", n, 0)
        wait_accepted(sandbox, min(20, n), 60)
        sent: dict[str, float] = {}
        for i in range(REMINDERS):
            account, kind = ("a", "carrierx") if i % 2 == 0 else ("b", "textingline")
            m = message(account, kind, 900_000 + i, Lane.TRANSACTIONAL)
            producer.send(m)
            sent[m.body] = time.time()
            time.sleep(EVERY)
        deadline = time.monotonic() + 60
        while True:
            accepted = accepted_at(sandbox)
            if all(body in accepted for body in sent) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        producer.cancel(campaign)
    blast = "unlimited" if rate is None else f"{rate:g}/s"
    for account, target in (("b", TARGET_B), ("a", TARGET_A)):
        waits = [accepted[b] - t for b, t in sent.items() if b.startswith(f"{account} ")]
        missing = sum(1 for b in sent if b.startswith(f"{account} ") and b not in accepted)
        worst = max(waits) if waits else float("inf")
        value = f"median {statistics.median(waits):.2f} s, worst {worst:.2f} s" if waits else "-"
        if missing:
            value += f", {missing} never accepted"
        out.add(
            f"blast {blast} on A: reminders on {account.upper()}",
            value,
            f"every one <= {target:g} s",
            not missing and worst <= target,
        )


def throughput(tmp: Path, url: str, db: int, sandbox: SandboxControl, n: int, out: Figures) -> None:
    """Salvo end to end against the bare loop with the same calls in flight."""
    providers = sandbox_accounts(sandbox.url, timeout=5.0)
    account = {**providers["carrierx"], "rate": UNLIMITED}
    settings = Settings.model_validate({"providers": {"a": account}})
    in_flight = 2 * settings.providers["a"].max_in_flight
    sandbox.reset()
    bare = [message("a", "carrierx", i, Lane.BULK) for i in range(n)]
    seconds, statuses = asyncio.run(_post_all({"a": adapter_for(settings.providers["a"])}, bare,
                                              in_flight))  # fmt: skip
    bare_ok = sandbox.accepted() == n and set(statuses) == {200}
    bare_rate = n / seconds
    sandbox.reset()
    with stack(tmp, url, db, {"a": account}) as producer:
        msgs = [message("a", "carrierx", 1_000_000 + i, Lane.BULK) for i in range(n)]
        t0 = time.monotonic()
        producer.send_many(msgs)
        wait_accepted(sandbox, n, 120)
        salvo_seconds = time.monotonic() - t0
    bodies = [e["body"] for e in sandbox.ledger()]
    once = len(bodies) == n == len(set(bodies))
    salvo_rate = n / salvo_seconds
    ratio = salvo_rate / bare_rate
    out.add(
        f"throughput, {LATENCY * 1000:.0f} ms provider, {in_flight} in flight",
        f"Salvo {salvo_rate:,.0f}/s, bare loop {bare_rate:,.0f}/s: {ratio:.2f}",
        f">= {TARGET_RATIO} x bare, each accepted once",
        ratio >= TARGET_RATIO and once and bare_ok,
    )


def controls(tmp: Path, url: str, db: int, sandbox: SandboxControl, out: Figures) -> None:
    """What a 40/s blast lets through after pause, and after cancel, returned."""
    rate = 40.0
    providers = sandbox_accounts(sandbox.url, timeout=5.0)
    accounts = {"a": {**providers["carrierx"], "rate": rate, "burst": int(rate)}}
    bound = rate * 1.0 + rate * LATENCY * 2
    sandbox.reset()
    with stack(tmp, url, db, accounts) as producer:
        campaign = start_campaign(producer, "a", "carrierx", 3000, 0)
        for control in ("pause", "cancel"):
            wait_accepted(sandbox, sandbox.accepted() + 80, 60)
            getattr(producer, control)(campaign)
            returned = time.time()
            time.sleep(4.0)
            after = sum(1 for t in accepted_at(sandbox).values() if t - LATENCY > returned)
            out.add(
                f"after {control} returned (blast at {rate:g}/s)",
                f"{after} accepted",
                f"<= {bound:.0f} (rate x 1 s + in flight)",
                after <= bound,
            )
            if control == "pause":
                producer.resume(campaign)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__)
    parser.add_argument("--messages", type=int, default=6000, help="throughput run (6000)")
    args = parser.parse_args(argv)
    figures = Figures()
    console = Console()
    with (
        tempfile.TemporaryDirectory(prefix="salvo-latency-") as tmpdir,
        redis_server(Path(tmpdir) / "redis") as url,
        sandbox_process() as sandbox_url,
    ):
        tmp = Path(tmpdir)
        sandbox = SandboxControl(sandbox_url)
        for provider in ("justcall", "carrierx", "textingline", "skycore"):
            sandbox.configure(provider, latency_ms=int(LATENCY * 1000))
        for db, rate in ((1, 5.0), (2, 40.0), (3, None)):
            console.print(f"reminders under a blast at {rate or 'unlimited'}/s ...")
            reminders_under_blast(tmp, url, db, sandbox, rate, figures)
        console.print("throughput ...")
        throughput(tmp, url, 4, sandbox, args.messages, figures)
        console.print("controls ...")
        controls(tmp, url, 5, sandbox, figures)
    table = Table(title="Send engine: latency, throughput and controls (two `salvo worker`s)")
    for col in ("figure", "measured", "target", "met"):
        table.add_column(col)
    for what, value, target, ok in figures.rows:
        table.add_row(what, value, target, "yes" if ok else "NO")
    console.print(table)
    met = sum(ok for *_, ok in figures.rows)
    print(f"{met} of {len(figures.rows)} targets met", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
