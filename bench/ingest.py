"""`python -m bench.ingest`: how fast a CSV blast is enqueued, and in how much memory.

One run starts one private embedded server (AOF on, as Salvo runs it) and, for each size (by
default 100,000 and 1,000,000 rows), writes a CSV file into a temporary directory (a `phone`
and a `first_name` column; nine numbers in ten American, one in ten British, every one valid
and different) and measures, each in a child process of its own:

(a) baseline: the same file read with Python's `csv.reader`, every row and nothing else: the
    least any reader of the file costs on this machine at this minute;
(b) Salvo: `producer.campaign.blast` of the file (what `salvo blast` and an upload run, a
    `Tally` sink included), every row validated and enqueued through enqueue.lua.

Each child's peak memory is its `ru_maxrss` (os.wait4), so it is the whole process's peak,
Python included. The server's data is flushed between sizes. Targets: 1,000,000 rows enqueued
in at most 60 s, and a peak of at most 200 MB that does not grow with the file (the 1M run's
peak within 25 % of the 100k run's). The ratio b/a says what the figures mean on a busier or
quieter machine: it moves less than the seconds do.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from rich.console import Console
from rich.table import Table

from salvo.local import redis_server, sandbox_accounts

SIZES = (100_000, 1_000_000)
TARGET_SECONDS = 60.0  # for 1,000,000 rows
TARGET_RSS = 200.0  # MB
FLAT = 1.25  # the largest size's peak over the smallest's, at most
#: Area codes and a British mobile prefix whose numbers phonenumbers holds valid.
AREAS = ("202", "212", "312", "415", "617", "646", "718", "805", "917")


def write_file(path: Path, rows: int, seed: int = 1) -> None:
    """A campaign CSV of `rows` distinct valid numbers."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("phone,first_name\n")
        for i in range(rows):
            if i % 10 == 9:
                number = f"+447400{i:06d}"
            else:
                number = f"+1{AREAS[i % len(AREAS)]}{2 + i % 8}{i // 72:06d}"
            fh.write(f"{number},{rng.choice(('Ada', 'Alan', 'Grace', 'Edsger'))}\n")


def bare_read(path: Path) -> dict[str, float]:
    """(a): every row through csv.reader."""
    start = time.perf_counter()
    n = 0
    with path.open(encoding="utf-8", newline="") as fh:
        for _ in csv.reader(fh):
            n += 1
    return {"seconds": time.perf_counter() - start, "rows": n - 1}


def ingest(path: Path, url: str) -> dict[str, float]:
    """(b): the blast, as `salvo blast` runs it."""
    from producer.api import Producer
    from producer.campaign import BlastSpec, blast
    from producer.preflight import Tally
    from sms.settings import Settings

    settings = Settings(redis_url=url, providers=sandbox_accounts("http://127.0.0.1:9"))
    producer = Producer(settings)
    spec = BlastSpec(
        account="justcall", sender="+14155550100", template="Hi {first_name}, 20% off today"
    )
    start = time.perf_counter()
    report = blast(producer, path, spec, sink=Tally(producer, spec, lookups=False))
    seconds = time.perf_counter() - start
    producer.close()
    return {
        "seconds": seconds,
        "rows": report.rows,
        "enqueued": report.enqueued,
        "rejected": report.rejected,
    }


def child(kind: str, path: Path, url: str) -> dict[str, float]:
    """Run one measurement in a child process; its figures and its peak RSS in MB."""
    cmd = [sys.executable, "-m", "bench.ingest", "--child", kind, str(path), url]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"bench.ingest: the {kind} child failed ({proc.returncode})")
    figures: dict[str, float] = json.loads(out)
    figures["rss_mb"] = usage.ru_maxrss / 1024  # kilobytes on Linux
    figures["cpu"] = usage.ru_utime + usage.ru_stime
    return figures


def server_cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument(
        "--rows", type=int, nargs="+", default=list(SIZES), help="file sizes (100000 1000000)"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, path, url = args.child
        figures = bare_read(Path(path)) if kind == "bare" else ingest(Path(path), url)
        print(json.dumps(figures), flush=True)
        return 0

    table = Table(title="Ingest: a CSV blast enqueued, against a bare csv.reader of the file")
    for col in (
        "rows",
        "bare read s",
        "Salvo s",
        "rows/s",
        "x bare read",
        "peak RSS MB",
        "bare RSS MB",
        "Salvo CPU s",
        "server CPU s",
    ):
        table.add_column(col, justify="right")
    results = []
    with tempfile.TemporaryDirectory(prefix="salvo-bench-ingest-") as tmp, redis_server() as url:
        client = redis.Redis.from_url(url)
        for rows in args.rows:
            path = Path(tmp) / f"people-{rows}.csv"
            write_file(path, rows)
            bare = child("bare", path, url)
            cpu = server_cpu(client)
            salvo = child("salvo", path, url)
            cpu = server_cpu(client) - cpu
            if salvo["enqueued"] != rows:
                print(
                    f"{rows:,} rows: {salvo['enqueued']:,} enqueued, {salvo['rejected']:,} "
                    "rejected: the file is wrong",
                    file=sys.stderr,
                )
                return 1
            client.flushall()
            path.unlink()
            results.append((rows, salvo))
            table.add_row(
                f"{rows:,}",
                f"{bare['seconds']:.2f}",
                f"{salvo['seconds']:.2f}",
                f"{rows / salvo['seconds']:,.0f}",
                f"{salvo['seconds'] / bare['seconds']:.0f}",
                f"{salvo['rss_mb']:.0f}",
                f"{bare['rss_mb']:.0f}",
                f"{salvo['cpu']:.1f}",
                f"{cpu:.1f}",
            )
    Console().print(table)
    for rows, salvo in results:
        at_million = salvo["seconds"] * 1_000_000 / rows
        print(
            f"{rows:,} rows: {at_million:.0f} s per million rows (target {TARGET_SECONDS:.0f}), "
            f"peak {salvo['rss_mb']:.0f} MB (target {TARGET_RSS:.0f})",
            flush=True,
        )
    if len(results) > 1:
        growth = results[-1][1]["rss_mb"] / results[0][1]["rss_mb"]
        print(f"peak memory, largest over smallest file: {growth:.2f} (flat: at most {FLAT})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
