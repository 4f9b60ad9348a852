"""`--watch`: a live progress bar of a campaign (sent, failed, waiting, rate, time left) until
every message has ended or Ctrl-C."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from producer.api import Producer
from sms.message import TERMINAL

WAITING = ("queued", "sending", "unknown")


def watch(producer: Producer, campaign_id: str, every: float = 1.0) -> dict[str, int]:
    """Show the campaign's progress until none of its messages waits; its last counts."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(campaign_id, total=None, detail="")
        while True:
            counts = producer.campaign(campaign_id).counts
            done = sum(n for status, n in counts.items() if status in {s.value for s in TERMINAL})
            waiting = sum(counts.get(s, 0) for s in WAITING)
            failed = counts.get("failed", 0) + counts.get("undelivered", 0)
            sent = counts.get("sent", 0) + counts.get("delivered", 0)
            detail = f"sent {sent}, failed {failed}, waiting {waiting}"
            bar.update(task, total=counts.get("total", 0), completed=done, detail=detail)
            if waiting == 0:
                return counts
            time.sleep(every)
