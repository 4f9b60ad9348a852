"""`python -m bench.chaos` (`make chaos`): exactly once, whatever fails.

Against the sandbox answering 5 % of sends with a 5xx, hanging 2 % after accepting them and
resetting 2 % of connections (half before, half after accepting), N messages go out across the
four providers (and a fifth account, CarrierX with `on_unknown = "resend"`, counted apart).
While they go, the worker's pool children are killed with SIGKILL, then its main process (with
its children, as a host would die) and a new worker started, and the Redis-compatible server is
restarted once politely (SIGTERM) and once without warning (SIGKILL), AOF on with `appendfsync
everysec` as Salvo runs it. At the end the sandbox's ledger is compared with the message records:

lost        valid messages neither accepted nor ended with a reason (must be 0)
duplicated  messages the sandbox accepted more than once (must be 0, except on the account set
            to resend unknown outcomes, where a provider without idempotency can be sent twice)
unknown     messages held for reconciliation, with their reasons
mismatched  records that disagree with the ledger (failed but accepted, sent but not accepted)
unmatched   ledger entries that match no message of the run (must be 0)

A SIGKILL loses nothing the server acknowledged: it writes its AOF to the file before it
answers, and the operating system keeps what was written. Only a power loss or a kernel crash
loses the writes of the last second or so, which `appendfsync everysec` had not yet forced to
disk (`python -m bench.fsync` measures what `always` costs instead; README, "Redis").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis
from rich.console import Console
from rich.table import Table

from producer.api import Producer
from salvo.local import SandboxControl, sandbox_accounts, sandbox_process, write_config
from sms import keys
from sms.embedded import free_port, spawn
from sms.message import Message, Status
from sms.settings import Settings

FAULTS = {
    "fault_5xx": 0.05,
    "timeout_after": 0.02,
    "reset_before": 0.01,
    "reset_after": 0.01,
    "hang_seconds": 4,
}
SENDERS = {
    "justcall": "+14155550100",
    "carrierx": "+14155550101",
    "textingline": "+14155550102",
    "skycore": "+14155550103",
    "resender": "+14155550104",
}
RESEND_TOKEN = "sandbox-token-resend"
FINAL = {s.value for s in Status} - {Status.QUEUED.value, Status.SENDING.value}


@dataclass
class Verdict:
    """What the comparison of ledger and records found."""

    messages: int
    accepted: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: int = 0
    duplicated_resend: int = 0
    unknown: Counter[str] = field(default_factory=Counter)
    unknown_accepted: int = 0
    mismatched: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing lost, nothing sent twice where that must not happen, nothing contradictory."""
        return not (self.lost or self.duplicated or self.mismatched or self.unmatched)

    def figures(self) -> str:
        """The run's figures on one line, to quote."""
        return (
            f"{self.messages:,} messages in {self.seconds:.0f} s: {self.accepted:,} accepted, "
            f"{len(self.lost)} lost, {self.duplicated} duplicated, "
            f"{len(self.mismatched)} contradicting, {len(self.unmatched)} ledger entries matching "
            f"no message, {sum(self.unknown.values())} unknown "
            f"({self.unknown_accepted} of them accepted), {sum(self.failed.values())} failed "
            f"with a reason, {self.duplicated_resend} resent on the resend account"
        )


class Server:
    """An embedded server that can be restarted on the same port and data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc, self.url = spawn(data_dir, self.port)

    def restart(self, *, kill: bool = False) -> None:
        """Stop it as a restart would (SIGTERM: AOF written out), or without warning (SIGKILL:
        a crashed process), then start it again on the same port and data."""
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.proc.wait(30)
        self.proc, self.url = spawn(self.data_dir, self.port)

    def stop(self) -> None:
        """Stop it for good."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


class Worker:
    """A `salvo worker` that can be killed the hard way and started again."""

    def __init__(self, config: Path, log: Path, pool: str = "threads") -> None:
        self.config = config
        self.log = log
        self.pool = pool
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "salvo.cli",
            "--config",
            str(self.config),
            "worker",
            "--pool",
            self.pool,
            "--concurrency",
            "2" if self.pool == "prefork" else "32",
            "-n",
            "chaos@%h",
            "--loglevel",
            "WARNING",
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)

    def children(self) -> list[int]:
        """The pool's child processes."""
        if self.proc is None:
            return []
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def kill_child(self) -> bool:
        """SIGKILL one pool child (Celery starts another); False when none was found."""
        kids = self.children()
        if not kids:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(kids[0], signal.SIGKILL)
        return True

    def kill_main(self) -> None:
        """SIGKILL the main process and its children, as a dying host would."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), then SIGKILL if it takes too long."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill_main()


def _sandbox_config(seed: int) -> dict[str, Any]:
    config: dict[str, Any] = {
        p: {**FAULTS, "seed": seed + i}
        for i, p in enumerate(("justcall", "carrierx", "textingline", "skycore"))
    }
    config["carrierx"]["credentials"] = [{"token": "sandbox-token"}, {"token": RESEND_TOKEN}]
    return config


def run_chaos(
    n: int,
    *,
    child_kills: int,
    main_kills: int,
    redis_restarts: int,
    rate: float,
    redis_kills: int = 1,
    pool: str = "threads",
    seed: int = 7,
    console: Console | None = None,
    timeout: float = 600.0,
) -> Verdict:
    """Send `n` messages through faults and kills; compare the ledger with the records."""
    console = console or Console()
    verdict = Verdict(n)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="salvo-chaos-")))
        server = Server(tmp / "redis")
        stack.callback(server.stop)
        sandbox = stack.enter_context(sandbox_process(_sandbox_config(seed)))
        providers = sandbox_accounts(sandbox, timeout=2.0, rate=rate, burst=max(1, int(rate / 10)))
        providers["resender"] = {
            **providers["carrierx"],
            "token": RESEND_TOKEN,
            "on_unknown": "resend",
        }
        config = write_config(tmp / "salvo.toml", server.url, providers, republish_after=10.0)
        worker = Worker(config, tmp / "worker.log", pool)
        stack.callback(worker.stop)
        worker.start()
        producer = Producer(Settings.load(config))
        stack.callback(producer.close)
        messages = [
            Message(
                account=account,
                to=f"+1{202 + i % 7}555{i // 7 % 10000:04d}",
                sender=SENDERS[account],
                body=f"chaos {i}",
            )
            for i, account in zip(range(n), _cycle(list(SENDERS)), strict=False)
        ]
        started = time.monotonic()
        producer.send_many(messages)
        events = (["child"] * child_kills + ["main"] * main_kills)[:]
        # Spread the kills and the restart over the time the sends should take.
        span = max(4.0, n / (rate * len(SENDERS)) * 0.8)
        plan = sorted(
            [(span * (i + 1) / (len(events) + 1), e) for i, e in enumerate(_interleave(events))]
            + [
                (span * (j + 1) / (redis_restarts + 1) + 0.3, "redis")
                for j in range(redis_restarts)
            ]
            + [(span * (j + 1.5) / (redis_kills + 1), "redis-kill") for j in range(redis_kills)]
        )
        ids = [m.id for m in messages]
        for at, event in plan:
            while time.monotonic() - started < at:
                time.sleep(0.05)
            if event == "child":
                if worker.kill_child():
                    verdict.events.append(f"{at:5.1f} s  killed a pool child (SIGKILL)")
                else:  # the threads pool has no child processes: its threads die with the main
                    verdict.events.append(f"{at:5.1f} s  no pool child to kill ({pool} pool)")
            elif event == "main":
                worker.kill_main()
                verdict.events.append(f"{at:5.1f} s  killed the worker's main process (SIGKILL)")
                worker.start()
            elif event == "redis":
                server.restart()
                verdict.events.append(f"{at:5.1f} s  restarted the server (SIGTERM)")
            else:
                server.restart(kill=True)
                verdict.events.append(f"{at:5.1f} s  killed the server (SIGKILL) and started it")
        client = redis.Redis.from_url(server.url, decode_responses=True)
        deadline = time.monotonic() + timeout
        while True:
            statuses = _statuses(client, ids)
            if all(s in FINAL for s in statuses):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        verdict.seconds = time.monotonic() - started
        _compare(verdict, messages, statuses, client, SandboxControl(sandbox).ledger())
        client.close()
    return verdict


def _cycle(items: list[str]) -> Iterator[str]:
    while True:
        yield from items


def _interleave(events: list[str]) -> list[str]:
    kids = [e for e in events if e == "child"]
    mains = [e for e in events if e == "main"]
    out: list[str] = []
    while kids or mains:
        if kids:
            out.append(kids.pop())
        if kids:
            out.append(kids.pop())
        if mains:
            out.append(mains.pop())
    return out


def _statuses(client: redis.Redis, ids: list[str]) -> list[str | None]:
    pipe = client.pipeline(transaction=False)
    for mid in ids:
        pipe.hget(keys.message(mid), "status")
    return cast(list[str | None], pipe.execute())


def _compare(
    verdict: Verdict,
    messages: list[Message],
    statuses: list[str | None],
    client: redis.Redis,
    ledger: list[dict[str, Any]],
) -> None:
    seen = Counter(e["body"] for e in ledger)
    ours = {m.body for m in messages}
    verdict.unmatched += [
        f"ledger entry {e.get('id')} ({e.get('body')!r}) matches no message"
        for e in ledger
        if e["body"] not in ours
    ]
    pipe = client.pipeline(transaction=False)
    for m in messages:
        pipe.hmget(keys.message(m.id), "reason")
    reasons = [r[0] or "" for r in pipe.execute()]
    for m, status, reason in zip(messages, statuses, reasons, strict=True):
        times = seen.get(m.body, 0)
        if times > 1:
            if m.account == "resender":
                verdict.duplicated_resend += times - 1
            else:
                verdict.duplicated += times - 1
        if status is None or status not in FINAL:
            verdict.lost.append(f"{m.id} {m.account}: {status}")
        elif status in (Status.SENT.value, Status.DELIVERED.value):
            verdict.accepted += 1
            if times == 0:
                verdict.mismatched.append(f"{m.id} {m.account}: recorded sent, not in the ledger")
        elif status == Status.UNKNOWN.value:
            verdict.unknown[f"{m.account}: {reason.split(':')[0]}"] += 1
            verdict.unknown_accepted += times > 0
        elif times:
            verdict.mismatched.append(f"{m.id} {m.account}: {status} ({reason}) but accepted")
        else:
            verdict.failed[f"{m.account}: {reason[:60]}"] += 1
            if not reason:
                verdict.lost.append(f"{m.id} {m.account}: {status} without a reason")


def report(console: Console, verdict: Verdict) -> None:
    """Print the verdict."""
    for event in verdict.events:
        console.print(f"  {event}", highlight=False)
    table = Table(title=f"Chaos: {verdict.messages:,} messages in {verdict.seconds:.0f} s")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target")

    def mark(ok: bool) -> str:
        return "[green]met[/]" if ok else "[red]NOT MET[/]"

    table.add_row("accepted (recorded sent)", f"{verdict.accepted:,}", "")
    table.add_row("lost", str(len(verdict.lost)), "0 " + mark(not verdict.lost))
    table.add_row(
        "duplicated (hold accounts)", str(verdict.duplicated), "0 " + mark(not verdict.duplicated)
    )
    table.add_row(
        "duplicated (account set to resend unknowns)",
        str(verdict.duplicated_resend),
        "counted apart",
    )
    table.add_row(
        "records contradicting the ledger",
        str(len(verdict.mismatched)),
        "0 " + mark(not verdict.mismatched),
    )
    table.add_row(
        "unknown, held for reconciliation", str(sum(verdict.unknown.values())), "listed below"
    )
    table.add_row("  of which the provider had accepted", str(verdict.unknown_accepted), "")
    table.add_row(
        "ledger entries matching no message",
        str(len(verdict.unmatched)),
        "0 " + mark(not verdict.unmatched),
    )
    table.add_row("failed with a reason", str(sum(verdict.failed.values())), "")
    console.print(table)
    console.print(verdict.figures(), highlight=False)
    for reason, count in verdict.unknown.most_common():
        console.print(f"  unknown  {count:5}  {reason}", highlight=False)
    for line in verdict.lost[:20] + verdict.mismatched[:20] + verdict.unmatched[:20]:
        console.print(f"  [red]{line}[/]", highlight=False)


def main(argv: list[str] | None = None) -> int:
    """Run the chaos measurement and print it; 1 when a guarantee did not hold."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument(
        "--child-kills", type=int, default=None, help="pool children killed (prefork: 5, else 0)"
    )
    parser.add_argument("--main-kills", type=int, default=3)
    parser.add_argument("--redis-restarts", type=int, default=1, help="SIGTERM, then start")
    parser.add_argument("--redis-kills", type=int, default=1, help="SIGKILL, then start")
    parser.add_argument("--rate", type=float, default=70.0, help="per account, messages per second")
    parser.add_argument(
        "--pool",
        choices=("threads", "prefork"),
        default="threads",
        help="the worker's pool: threads (salvo worker's default) or prefork (children to kill)",
    )
    args = parser.parse_args(argv)
    console = Console()
    verdict = run_chaos(
        args.messages,
        child_kills=args.child_kills
        if args.child_kills is not None
        else (5 if args.pool == "prefork" else 0),
        main_kills=args.main_kills,
        redis_restarts=args.redis_restarts,
        redis_kills=args.redis_kills,
        rate=args.rate,
        pool=args.pool,
        console=console,
    )
    report(console, verdict)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
