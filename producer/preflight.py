"""Preflight: what a blast would do, read from the whole file with nothing enqueued.

`preflight(producer, path, spec)` runs the blast's own reader (producer/campaign.py, `dry_run`)
so rows are judged exactly as a real blast judges them, and reports: rows valid, rejected
(with the rejects file), duplicates (a key already taken in Redis, or repeated in the file, by
the same message), conflicts (a key taken, or repeated, by a different message: rejected, as
the blast rejects them), suppressed (opted out); how many bodies are GSM-7 and how many UCS-2,
and the characters that forced UCS-2 most often; total segments, and how many smart encoding
saves (or would save); the cost from the account's `price_per_segment` and `price_per_mms`;
and the time to complete from the account's configured rate (else the rate it learnt) and its
quiet hours.

A real blast passes a `Tally` as its sink too, and reports the same encoding, segment, cost and
time figures of the messages it enqueued. Before it enqueues anything, `estimate` gives the
same figures from the file's first `SAMPLE` rows (the preflight's own code, on a copy of those
rows), scaled to the whole file by its size in bytes: exact when the file has no more rows than
that, an estimate otherwise, at the cost of reading `SAMPLE` rows rather than all of them.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from producer.api import Producer, smartened
from producer.campaign import BlastSpec, Format, blast, campaign_id_for, source_format
from producer.sources import MAX_RECORD, csv_records
from sms import keys
from sms.encoding import Encoding, segment_info, smarten, ucs2_characters
from sms.errors import InvalidInput, TemplateError
from sms.message import Message
from sms.quiet import next_send_time, parse_window

#: Messages looked up in Redis at a time (suppression, keys already taken).
BATCH = 1000
#: How many of the characters that forced UCS-2 are listed.
TOP_CHARACTERS = 10


@dataclass
class Report:
    """A preflight's numbers (`as_dict` is what the CLI prints and the API answers)."""

    campaign: str
    rows: int = 0
    valid: int = 0
    rejected: int = 0
    rejects_path: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    suppressed: int = 0
    to_send: int = 0
    gsm7: int = 0
    ucs2: int = 0
    mms: int = 0
    ucs2_characters: list[tuple[str, int]] = field(default_factory=list)
    segments: int = 0
    smart_encoding: bool = False
    segments_saved: int = 0  # by smart encoding (applied, or what it would save)
    cost: float | None = None
    rate: float | None = None  # messages per second
    rate_source: str = "unknown"  # configured, learnt or unknown
    held_for_quiet_hours: int = 0
    seconds: float | None = None  # to send them all, from now (or send_at)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe form."""
        out = {k: v for k, v in self.__dict__.items() if k != "rejects_path"}
        out["rejects_path"] = str(self.rejects_path) if self.rejects_path else None
        out["ucs2_characters"] = [{"character": c, "count": n} for c, n in self.ucs2_characters]
        return out


class Tally:
    """Sees each valid message of a blast and keeps the preflight's figures; with `lookups`
    it also finds duplicates and suppressed rows in Redis (a dry run, which enqueues nothing)."""

    def __init__(self, producer: Producer, spec: BlastSpec, *, lookups: bool) -> None:
        self.producer = producer
        self.spec = spec
        self.lookups = lookups
        settings = producer.settings
        self.account = settings.account(spec.account)
        smart = spec.smart_encoding
        self.smart = settings.smart_encoding_for(spec.account) if smart is None else smart
        window, self.lanes = settings.quiet_for(spec.account)
        self.window = parse_window(window) if window else None
        start = time.time()
        if spec.send_at is not None:
            start = max(start, spec.send_at.timestamp())
        self.start = datetime.fromtimestamp(start, UTC)
        self.start_at = self.start.timestamp()
        self.valid = 0
        self.duplicates = 0
        self.conflicts = 0
        self.suppressed = 0
        self.gsm7 = 0
        self.ucs2 = 0
        self.mms = 0
        self.plain_segments = 0
        self.smart_segments = 0
        self.forced: Counter[str] = Counter()
        self.seen: dict[str, str] = {}  # key -> fingerprint of the first message with it
        self.pending: list[Message] = []
        #: epoch second a message to send may go -> how many: flat in the file's size, as
        #: the due times are few (now, or the end of a zone's quiet hours)
        self.due: Counter[float] = Counter()

    def __call__(self, message: Message) -> None:
        """Count one valid message."""
        self.valid += 1
        if self.lookups:
            key = message.idempotency_key
            if key is not None:
                # The blast keys the message it enqueues: smartened, when smart encoding is on.
                stored = smartened(message) if self.smart else message
                fingerprint = stored.fingerprint()
                first = self.seen.get(key)
                if first is not None:
                    if first == fingerprint:
                        self.duplicates += 1
                    else:
                        self.conflicts += 1
                    return
                self.seen[key] = fingerprint
            self.pending.append(message)
            if len(self.pending) >= BATCH:
                self._flush()
        else:
            self._count(message)

    def _flush(self) -> None:
        """Look a batch up in Redis: keys already taken, numbers opted out."""
        batch, self.pending = self.pending, []
        if not batch:
            return
        pipe = self.producer.redis.pipeline(transaction=False)
        for message in batch:
            pipe.get(keys.idempotency(message.idempotency_key or ""))
        fresh = []
        for message, held in zip(batch, pipe.execute(), strict=True):
            if held is None or message.idempotency_key is None:
                fresh.append(message)
                continue
            # "<id> <fingerprint>", or "<id>" alone: the blast calls it a repeat unless both
            # fingerprints are known and differ (enqueue.lua).
            _, _, held_print = str(held).partition(" ")
            mine = self.seen.get(message.idempotency_key, "")
            if held_print and mine and held_print != mine:
                self.conflicts += 1
            else:
                self.duplicates += 1
        kept = self.producer.without_suppressed(fresh)
        self.suppressed += len(fresh) - len(kept)
        for message in kept:
            self._count(message)

    def _count(self, message: Message) -> None:
        if message.is_mms:
            self.mms += 1
        else:
            plain = segment_info(message.body)
            smart = plain
            if plain.encoding is Encoding.UCS2:
                self.forced.update(ucs2_characters(message.body))
                smart = segment_info(smarten(message.body))
            self.plain_segments += plain.segments
            self.smart_segments += smart.segments
            if (smart if self.smart else plain).encoding is Encoding.UCS2:
                self.ucs2 += 1
            else:
                self.gsm7 += 1
        due = next_send_time(message.to, self.window, message.lane.value, self.lanes, self.start)
        self.due[self.start_at if due is self.start else due.timestamp()] += 1

    def finish(self, report: Report) -> Report:
        """Fill `report` with what was tallied."""
        if self.lookups:
            self._flush()
        report.valid = self.valid - self.conflicts  # rows = valid + rejected
        if self.lookups:
            report.duplicates = self.duplicates
            report.suppressed = self.suppressed
            if self.conflicts:  # rejected by the blast, with the reason "conflict: ..."
                report.rejected += self.conflicts
                report.reasons["conflict"] = report.reasons.get("conflict", 0) + self.conflicts
        report.to_send = self.due.total()
        report.gsm7, report.ucs2, report.mms = self.gsm7, self.ucs2, self.mms
        report.ucs2_characters = self.forced.most_common(TOP_CHARACTERS)
        report.segments = self.smart_segments if self.smart else self.plain_segments
        report.smart_encoding = self.smart
        report.segments_saved = self.plain_segments - self.smart_segments
        price, mms_price = self.account.price_per_segment, self.account.price_per_mms
        report.cost = cost(report.segments, self.mms, price, mms_price)
        report.rate, report.rate_source = self._rate()
        start = self.start.timestamp()
        report.held_for_quiet_hours = sum(n for due, n in self.due.items() if due > start)
        if report.rate is not None:
            report.seconds = completion(self.due, report.rate, start)
        return report

    def _rate(self) -> tuple[float | None, str]:
        rates = [r for r in (self.account.rate, self.account.sender_rate) if r is not None]
        if rates:
            return min(rates), "configured"
        key = keys.learnt_rate(self.spec.account)
        learnt = cast(str | None, self.producer.redis.hget(key, "rate"))
        if learnt:
            try:
                return float(learnt), "learnt"
            except ValueError:
                pass
        return None, "unknown"


def cost(segments: int, mms: int, per_segment: float | None, per_mms: float | None) -> float | None:
    """What the SMS segments and MMS messages cost; None when a price needed is not set."""
    if (segments and per_segment is None) or (mms and per_mms is None):
        return None
    return round(segments * (per_segment or 0.0) + mms * (per_mms or 0.0), 6)


def completion(dues: Mapping[float, int], rate: float, start: float) -> float:
    """Seconds from `start` until the last message has gone, each paced `1/rate` after the one
    before and none before its due time (quiet hours); `dues` counts the messages due at each
    time."""
    at = start
    gap = 1.0 / rate
    for due in sorted(dues):
        at = max(at, due) + gap * dues[due]
    return round(at - start, 3)


def preflight(
    producer: Producer,
    path: Path,
    spec: BlastSpec,
    *,
    rejects_path: Path | None = None,
    fmt: Format | None = None,
) -> Report:
    """What a blast of `path` would do; nothing is recorded or enqueued."""
    tally = Tally(producer, spec, lookups=True)
    done = blast(producer, path, spec, rejects_path=rejects_path, fmt=fmt, dry_run=True, sink=tally)
    report = Report(
        campaign=done.campaign,
        rows=done.rows,
        rejected=done.rejected,
        rejects_path=done.rejects_path,
        reasons=done.reasons,
    )
    return tally.finish(report)


#: Rows the figures at a blast's start are read from.
SAMPLE = 2000


@dataclass(frozen=True)
class Estimate:
    """The figures of a blast before it starts: a preflight of its first rows, scaled."""

    report: Report
    exact: bool  # the sample was the whole file
    sampled: int  # rows read


def estimate(
    producer: Producer,
    path: Path,
    spec: BlastSpec,
    *,
    fmt: Format | None = None,
    content: str | None = None,
    sample: int = SAMPLE,
) -> Estimate:
    """A preflight of the file's first `sample` rows (duplicates and opted-out numbers looked
    up), every count scaled by the bytes of rows in the file over those read; the time to
    complete paces the sample at the rate divided by the same factor. The campaign id is the
    whole file's (`content`, its SHA-256, when known), so the keys looked up are the blast's."""
    fmt = fmt or source_format(path)
    spec = replace(spec, campaign=campaign_id_for(path, spec, content))
    with tempfile.TemporaryDirectory(prefix="salvo-estimate-") as tmp:
        head = Path(tmp) / f"head.{fmt}"
        read, total = _head(path, head, fmt, sample)
        tally = Tally(producer, spec, lookups=True)
        try:
            done = blast(
                producer,
                head,
                spec,
                rejects_path=Path(tmp) / "rejects.csv",
                fmt=fmt,
                dry_run=True,
                sink=tally,
            )
        except (InvalidInput, TemplateError) as exc:  # about the file the user named, not its copy
            raise type(exc)(str(exc).replace(str(head), str(path))) from None
    report = tally.finish(
        Report(campaign=done.campaign, rows=done.rows, rejected=done.rejected, reasons=done.reasons)
    )
    exact = read >= total
    if not exact and read:
        _scale(report, tally, total / read)
    return Estimate(report, exact, done.rows)


def _head(path: Path, dest: Path, fmt: Format, rows: int) -> tuple[int, int]:
    """Copy the header and first `rows` rows of `path` to `dest`; the bytes of rows copied and
    of all the file's rows."""
    size = path.stat().st_size
    read = header = 0
    with path.open("rb") as src, dest.open("wb") as out:
        if fmt == "csv":
            records = csv_records(src)
            first = next(records, None)
            if first is not None:
                header = len(first[1] or b"")
                out.write(first[1] or b"\n")
            for n, (_, record) in enumerate(records):
                if n >= rows:
                    break
                out.write(record if record is not None else b"\n")
                read += len(record) if record is not None else MAX_RECORD
        else:
            for n, line in enumerate(iter(lambda: src.readline(MAX_RECORD + 1), b"")):
                if n >= rows:
                    break
                out.write(line)
                read += len(line)
    return read, size - header


#: A report's counts of rows, messages and segments (what scales with the file).
COUNTS = (
    "rows",
    "valid",
    "rejected",
    "duplicates",
    "suppressed",
    "to_send",
    "gsm7",
    "ucs2",
    "mms",
    "segments",
    "segments_saved",
    "held_for_quiet_hours",
)


def _scale(report: Report, tally: Tally, factor: float) -> None:
    """Scale a sample's counts to the whole file."""
    for name in COUNTS:
        setattr(report, name, round(getattr(report, name) * factor))
    report.reasons = {k: round(n * factor) for k, n in report.reasons.items()}
    report.ucs2_characters = [(c, round(n * factor)) for c, n in report.ucs2_characters]
    account = tally.account
    report.cost = cost(
        report.segments, report.mms, account.price_per_segment, account.price_per_mms
    )
    if report.rate is not None:
        report.seconds = completion(tally.due, report.rate / factor, tally.start.timestamp())


def flag(value: str | None, name: str) -> bool | None:
    """A true/false query or option value (None when absent); ValueError naming it otherwise."""
    if value is None:
        return None
    text = value.strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{name}: must be true or false, not {value!r}")


def figures(report: Report) -> dict[str, Any]:
    """The encoding, segment, cost and time figures of a report (what a real blast adds)."""
    names = (
        "gsm7",
        "ucs2",
        "mms",
        "segments",
        "smart_encoding",
        "segments_saved",
        "cost",
        "rate",
        "rate_source",
        "held_for_quiet_hours",
        "seconds",
    )
    out = {name: getattr(report, name) for name in names}
    out["ucs2_characters"] = [{"character": c, "count": n} for c, n in report.ucs2_characters]
    return out
