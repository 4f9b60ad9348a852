"""`python -m bench.fsync` (`make bench-fsync`): what `appendfsync always` costs against
`everysec`, the setting Salvo's embedded server runs with.

With `everysec` the server writes every change to its append-only file before it answers, and
forces the file to disk once a second: a crashed or killed server loses nothing it answered,
but a power loss or a kernel crash can lose about the last second of changes (up to two, when
the disk is slow). With `always` it forces the file to disk before answering each round of
commands, and loses nothing it answered, at the price measured here: the same work on one
private server, timed under each setting in turn, in two shapes:

- enqueue: messages recorded by enqueue.lua in chunks of 1,000 (one script call per chunk, as
  the producer does): few, large writes;
- per-message writes: one small write per round trip (a `HSET` each), as many small steps
  are: the worst case for `always`, which pays one disk flush per round trip.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable

import redis
from rich.console import Console
from rich.table import Table

from salvo.local import redis_server
from sms.message import Message
from sms.store import Store

CHUNK = 1000


def _messages(n: int) -> list[Message]:
    return [
        Message(account="bench", to=f"+1202555{i % 10000:04d}", sender="+14155550100", body="x")
        for i in range(n)
    ]


def _rate(work: Callable[[], int]) -> float:
    started = time.perf_counter()
    done = work()
    return done / (time.perf_counter() - started)


def measure(messages: int, writes: int) -> dict[str, dict[str, float]]:
    """Operations per second of each shape under each setting, on one private server."""
    rates: dict[str, dict[str, float]] = {}
    with redis_server() as url:
        client = redis.Redis.from_url(url, decode_responses=True)
        store = Store(client, retention=3600)
        for setting in ("everysec", "always", "everysec"):  # everysec twice: the drift
            client.config_set("appendfsync", setting)
            batch = _messages(messages)

            def enqueue(batch: list[Message] = batch) -> int:
                for at in range(0, len(batch), CHUNK):
                    chunk = batch[at : at + CHUNK]
                    store.enqueue_many(chunk, [None] * len(chunk))
                return len(batch)

            def small(prefix: str = uuid.uuid4().hex) -> int:
                for i in range(writes):
                    client.hset(f"bench:fsync:{prefix}:{i}", "status", "sent")
                return writes

            row = rates.setdefault(setting, {"enqueue": 0.0, "writes": 0.0})
            row["enqueue"] = max(row["enqueue"], _rate(enqueue))
            row["writes"] = max(row["writes"], _rate(small))
        client.close()
    return rates


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m bench.fsync", description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=3_000)
    args = parser.parse_args(argv)
    rates = measure(args.messages, args.writes)
    table = Table(title="appendfsync: everysec (Salvo's) against always")
    table.add_column("setting")
    table.add_column("enqueue, messages/s", justify="right")
    table.add_column("per-message writes/s", justify="right")
    for setting, row in rates.items():
        table.add_row(setting, f"{row['enqueue']:,.0f}", f"{row['writes']:,.0f}")
    slow = {k: rates["always"][k] / rates["everysec"][k] for k in ("enqueue", "writes")}
    Console().print(table)
    print(
        f"always keeps {slow['enqueue']:.0%} of everysec's enqueue rate and "
        f"{slow['writes']:.0%} of its per-message write rate"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
