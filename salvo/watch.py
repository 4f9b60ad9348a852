"""`--watch`: a live progress bar of a campaign (sent, failed, waiting, rate, time left) until
no message is queued or sending (one held as `unknown` waits for `salvo reconcile`, not for
the watch), or Ctrl-C; a campaign that is not running says its state (paused, scheduled). A
hold its waiting messages wait for (sms/holds.py) is printed above the bar as `salvo status`
says it, once each time it changes, and the bar says `held` meanwhile.

The rate is messages ended per second over the last `WINDOW` seconds of readings (`Rate`), and
the time left is what waits at that rate."""

from __future__ import annotations

import time
from collections import deque

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from producer.api import Producer
from sms.message import TERMINAL

#: What still moves without anyone's help: the watch ends when none of these is left.
WAITING = ("queued", "sending")
#: Ends that are neither sent nor failed, shown when there are any.
OTHER_ENDS = ("cancelled", "expired", "suppressed")
#: Seconds of readings the rate is measured over.
WINDOW = 5.0


class Rate:
    """Messages ended per second over the last `window` seconds of readings."""

    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self.readings: deque[tuple[float, int]] = deque()

    def add(self, at: float, done: int) -> float | None:
        """Record `done` messages ended at time `at` (seconds); the rate since the oldest
        reading kept (None until two readings are apart)."""
        self.readings.append((at, done))
        while len(self.readings) > 2 and at - self.readings[1][0] >= self.window:
            self.readings.popleft()
        first_at, first_done = self.readings[0]
        if at <= first_at:
            return None
        return max(0, done - first_done) / (at - first_at)


def left(waiting: int, rate: float | None) -> str:
    """The time left for `waiting` messages at `rate`, as `h:mm:ss` (`-:--:--` unknown)."""
    if waiting == 0:
        return "0:00:00"
    if not rate:
        return "-:--:--"
    seconds = round(waiting / rate)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def detail(counts: dict[str, int], rate: float | None) -> str:
    """The line beside the bar: sent, failed, any other end (cancelled, expired, suppressed),
    waiting, any held as unknown, rate and time left. Every message is in one of them."""
    waiting = sum(counts.get(s, 0) for s in WAITING)
    failed = counts.get("failed", 0) + counts.get("undelivered", 0)
    sent = counts.get("sent", 0) + counts.get("delivered", 0)
    shown = "-" if rate is None else f"{rate:.1f}/s"
    parts = [f"sent {sent}", f"failed {failed}"]
    parts += [f"{end} {counts[end]}" for end in OTHER_ENDS if counts.get(end)]
    parts.append(f"waiting {waiting}")
    if counts.get("unknown"):
        # Held until someone decides (salvo reconcile): waiting for them would never end.
        parts.append(f"unknown {counts['unknown']} (salvo reconcile)")
    return ", ".join([*parts, f"rate {shown}", f"left {left(waiting, rate)}"])


def watch(producer: Producer, campaign_id: str, every: float = 1.0) -> dict[str, int]:
    """Show the campaign's progress until none of its messages waits; its last counts."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    terminal = {s.value for s in TERMINAL}
    rate = Rate()
    console = Console(stderr=True)
    if not console.is_terminal:  # a log or a pipe: the whole line, not cut at 80 columns
        console = Console(stderr=True, width=200)
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(campaign_id, total=None, detail="")
        said: str | None = None  # the hold last printed
        while True:
            campaign = producer.campaign(campaign_id)
            counts = campaign.counts
            done = sum(n for status, n in counts.items() if status in terminal)
            now = rate.add(time.monotonic(), done)
            state = campaign.state.value
            held = campaign.hold.text() if campaign.hold else None
            if held is not None and held != said:
                bar.console.print(f"waiting for {held}", highlight=False, markup=False)
            said = held
            if state == "running" and held is not None:
                state = "held"
            bar.update(
                task,
                description=campaign_id if state == "running" else f"{campaign_id} ({state})",
                total=counts.get("total", 0),
                completed=done,
                detail=detail(counts, now),
            )
            if sum(counts.get(s, 0) for s in WAITING) == 0:
                return counts
            time.sleep(every)
