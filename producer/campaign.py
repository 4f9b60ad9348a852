"""Campaigns from a CSV or JSONL file: streamed row by row, every bad row reported, the rest
enqueued.

A CSV has a header line with a `phone` column; a JSONL file has one JSON object per line with a
`phone` key, the other keys being template variables. Each row's idempotency key is
`{campaign}:{key column}` (the phone number by default), and the campaign id defaults to
`sms.campaigns.default_id` of the file's content, account, sender, template and key column, so
running the same blast twice, through any door, sends nothing the first run already enqueued.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import redis.exceptions
from kombu.exceptions import OperationalError
from pydantic import TypeAdapter, ValidationError

from producer.api import CHUNK, Producer, smartened, validation_problems
from producer.sources import Row, csv_header, csv_records, csv_rows, jsonl_rows
from producer.template import Template
from sms import callbacks, campaigns
from sms.errors import InvalidInput, KeyConflict, TemplateError
from sms.message import Lane, Message, Sender
from sms.phone import InvalidPhoneNumber, parse_e164
from sms.store import Admission

PHONE = "phone"
#: Rejected rows (line and reason, not the row) kept in the campaign's hash for the dashboard.
REJECTS_KEPT = 100

Format = Literal["csv", "jsonl"]
#: What stops a blast part way: Redis (or the broker on it) out of reach, or an interrupt.
STOPS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError)


@dataclass
class BlastReport:
    """What a blast did with its file."""

    campaign: str
    rows: int = 0
    enqueued: int = 0
    duplicates: int = 0  # rows whose key already names the same message: nothing sent again
    rejected: int = 0  # rows not enqueued: unreadable, invalid, or a key conflict
    suppressed: int = 0  # rows to numbers that opted out: never enqueued
    rejects_path: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    first_rejects: list[tuple[int, str]] = field(default_factory=list)  # line, reason
    #: Set when the blast had to stop: the first line not done (None: before any row), and why.
    stopped_at: int | None = None
    stopped: str | None = None


@dataclass(frozen=True)
class BlastSpec:
    """Everything a blast needs besides its file."""

    account: str
    sender: str
    template: str
    campaign: str | None = None
    key_column: str = PHONE
    lane: Lane = Lane.BULK
    send_at: datetime | None = None
    expires_at: datetime | None = None
    source: str | None = None  # how the campaign names its input (default: the file's path)
    smart_encoding: bool | None = None  # None: the account's (or the deployment's) setting
    phone_column: str | None = None  # the CSV column of numbers (default: `phone`, any case)
    callback_url: str | None = None  # status changes and campaign.finished (sms/callbacks.py)


def source_format(path: Path) -> Format:
    """The format a file's name says: `.jsonl` or `.ndjson` is JSONL, anything else CSV."""
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"


_SENDER: TypeAdapter[str] = TypeAdapter(Sender)


def content_digest(path: Path) -> str:
    """The SHA-256 of a file's content in hex, read in chunks."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from None
    return digest.hexdigest()


def campaign_id_for(path: Path, spec: BlastSpec, content: str | None = None) -> str:
    """The campaign id of a blast: the spec's, checked, or `sms.campaigns.default_id` of the
    file's content (`content`, its SHA-256 when already known) and the spec."""
    if spec.campaign is not None:
        return campaigns.check_id(spec.campaign)
    try:
        sender = _SENDER.validate_python(spec.sender)
    except ValidationError:
        sender = spec.sender  # every row is refused for it anyway
    content = content or content_digest(path)
    return campaigns.default_id(spec.account, sender, spec.template, spec.key_column, content)


def blast(
    producer: Producer,
    path: Path,
    spec: BlastSpec,
    *,
    rejects_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
    fmt: Format | None = None,
    dry_run: bool = False,
    sink: Callable[[Message], None] | None = None,
    content: str | None = None,
) -> BlastReport:
    """Enqueue every valid row of a CSV or JSONL file; write each bad one to the rejects file.
    `content` is the file's SHA-256 when the caller has it already (an upload).

    `sink` sees every valid message as written (before smart encoding), for the preflight's
    numbers (producer/preflight.py); with `dry_run` nothing is recorded or enqueued.

    The counts always add up: rows = enqueued + duplicates + rejected + suppressed. When
    Redis (or the broker) goes out of reach, or the blast is interrupted, it stops, and its
    report says where (`stopped_at`, the first line not done) and why; the rows before are
    counted, the rest are not. Running the same blast again is safe: what was enqueued counts
    as duplicates.
    """
    fmt = fmt or source_format(path)
    campaign = campaign_id_for(path, spec, content)
    hook = _callback_url(producer, spec)
    template = Template(spec.template)
    adapter = producer.adapter(spec.account)
    report = BlastReport(campaign)
    rejects_path = rejects_path or path.with_name(f"{path.stem}.rejects.csv")
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from None
    with fh, _Rejects(rejects_path) as rejects:
        rows = _csv_source(fh, path, spec, template, rejects) if fmt == "csv" else jsonl_rows(fh)
        columns = Columns(rejects.columns if fmt == "csv" else None)
        chunk: list[tuple[Message, int, list[str], str]] = []
        smart = spec.smart_encoding
        if smart is None:
            smart = producer.settings.smart_encoding_for(spec.account)
        try:
            if not dry_run:
                _start_campaign(producer, campaign, spec, path)
                callbacks.open_campaign(producer.redis, campaign, hook)
            for row in rows:
                report.rows += 1
                message, reason = _row_message(row, spec, template, campaign, producer, adapter)
                if message is None:
                    _reject(report, rejects, row.line, reason, row.raw)
                    continue
                if sink is not None:
                    sink(message)
                if dry_run:
                    continue
                if smart:
                    message = smartened(message)
                chunk.append((message, row.line, row.raw, columns.stored(row)))
                if len(chunk) >= CHUNK:
                    _flush(producer, chunk, report, rejects, progress, spec.callback_url)
            if chunk:
                _flush(producer, chunk, report, rejects, progress, spec.callback_url)
            if not dry_run:
                campaigns.record_rows(
                    producer.redis,
                    campaign,
                    rejected=report.rejected,
                    suppressed=report.suppressed,
                    first_rejects=report.first_rejects,
                    columns=columns.names,
                )
                producer.store.campaign_ingested(campaign)
        except (*STOPS, KeyboardInterrupt) as exc:
            # The messages of the chunk in hand were not (all) enqueued: not counted as done.
            report.rows -= len(chunk)
            report.stopped_at = chunk[0][1] if chunk else None
            report.stopped = (
                "interrupted" if isinstance(exc, KeyboardInterrupt) else f"Redis unreachable: {exc}"
            )
        report.rejects_path = rejects_path if report.rejected else None
    if not report.rejected:
        rejects_path.unlink(missing_ok=True)
    return report


def _reject(report: BlastReport, rejects: _Rejects, line: int, reason: str, row: list[str]) -> None:
    report.rejected += 1
    kind = reason.split(":")[0]
    report.reasons[kind] = report.reasons.get(kind, 0) + 1
    rejects.write(line, reason, row)
    if len(report.first_rejects) < REJECTS_KEPT:
        report.first_rejects.append((line, reason))


def _row_message(
    row: Row,
    spec: BlastSpec,
    template: Template,
    campaign: str,
    producer: Producer,
    adapter: Any,
) -> tuple[Message | None, str]:
    """The message of one row, or None and why it is rejected."""
    if row.values is None:
        return None, row.reason
    message, reason = _message(
        row.values, spec, template, campaign, producer.settings.default_region
    )
    if message is not None:
        problems = adapter.validate(message)
        if problems:
            return None, "; ".join(str(p) for p in problems)
    return message, reason


class Columns:
    """A campaign's input columns, and each row as kept on its record (`Record.row`): a CSV
    row as the JSON list of its fields (the names once, on the campaign: its header), a JSONL
    row as its JSON object (the names are the keys seen, in order, up to `MAX_COLUMNS`)."""

    MAX_COLUMNS = 200

    def __init__(self, header: list[str] | None) -> None:
        self.header = header
        self.seen: dict[str, None] = {}

    @property
    def names(self) -> list[str]:
        """The column names, in order."""
        return list(self.header if self.header is not None else self.seen)

    def stored(self, row: Row) -> str:
        """The row as JSON, compact."""
        if self.header is not None:
            return json.dumps(row.raw, ensure_ascii=False, separators=(",", ":"))
        values = row.values or {}
        for name in values:
            if name not in self.seen and len(self.seen) < self.MAX_COLUMNS:
                self.seen[name] = None
        return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def _flush(
    producer: Producer,
    chunk: list[tuple[Message, int, list[str], str]],
    report: BlastReport,
    rejects: _Rejects,
    progress: Callable[[int], None] | None,
    callback_url: str | None = None,
) -> None:
    allowed = {id(m) for m in producer.without_suppressed([e[0] for e in chunk])}
    kept = [entry for entry in chunk if id(entry[0]) in allowed]
    report.suppressed += len(chunk) - len(kept)
    results = (
        producer.enqueue_valid(
            [e[0] for e in kept], [e[1] for e in kept], [e[3] for e in kept], callback_url
        )
        if kept
        else []
    )
    for (message, line, row, _), result in zip(kept, results, strict=True):
        if result.admission is Admission.NEW:
            report.enqueued += 1
        elif result.admission is Admission.REPEAT:
            report.duplicates += 1
        else:
            conflict = KeyConflict(line, message.idempotency_key or "", result.id)
            _reject(report, rejects, line, f"conflict: {conflict}", row)
    if progress:
        progress(len(chunk))
    chunk.clear()


def phone_header(header: list[str], path: Path, column: str | None) -> list[str]:
    """The header with its column of numbers named `phone`: the column `column` names (exactly,
    else in any case), or by default the one named `phone` in any case (`Phone`, `PHONE`)."""
    wanted = column or PHONE
    found = [i for i, name in enumerate(header) if name == wanted] or [
        i for i, name in enumerate(header) if name.strip().casefold() == wanted.casefold()
    ]
    if len(found) != 1:
        why = "no" if not found else "more than one"
        raise InvalidInput(
            f"{path}: line 1: {why} {wanted!r} column (columns: {', '.join(header)})"
            + ("; name the column of numbers with --phone-column" if not found else "")
        )
    others = [i for i, name in enumerate(header) if name == PHONE and i != found[0]]
    if others:
        raise InvalidInput(
            f"{path}: line 1: both {header[found[0]]!r} and 'phone' columns: rename one"
        )
    return [PHONE if i == found[0] else name for i, name in enumerate(header)]


def _csv_source(
    fh: IO[bytes], path: Path, spec: BlastSpec, template: Template, rejects: _Rejects
) -> Iterator[Row]:
    """Check a CSV's header against the spec and template, then yield its rows; the rejects
    file gets the file's own column names."""
    records = csv_records(fh)
    original = csv_header(records, path)
    rejects.columns = list(original)
    header = phone_header(original, path, spec.phone_column)
    for needed in (PHONE, spec.key_column):
        if needed not in header:
            raise InvalidInput(
                f"{path}: line 1: no {needed!r} column (columns: {', '.join(header)})"
            )
    missing = template.missing(set(header))
    if missing:
        raise TemplateError(
            f"template names {', '.join('{' + m + '}' for m in missing)} but {path} has no such "
            f"column (columns: {', '.join(header)})"
        )
    return csv_rows(records, header)


def _message(
    values: dict[str, str | None],
    spec: BlastSpec,
    template: Template,
    campaign: str,
    region: str | None,
) -> tuple[Message | None, str]:
    phone = values.get(PHONE)
    if phone is None:
        return None, "phone: missing"
    try:
        to = parse_e164(phone, region)
    except InvalidPhoneNumber as exc:
        return None, f"phone: {exc.reason} ({phone!r})"
    try:
        body = template.render(values)
    except TemplateError as exc:
        return None, f"template: {exc}"
    key = (values.get(spec.key_column) or "").strip() if spec.key_column != PHONE else to
    if not key:
        return None, f"{spec.key_column}: empty key"
    try:
        message = Message(
            account=spec.account,
            to=to,
            sender=spec.sender,
            body=body,
            campaign=campaign,
            idempotency_key=f"{campaign}:{key}",
            lane=spec.lane,
            send_at=spec.send_at,
            expires_at=spec.expires_at,
        )
    except ValidationError as exc:
        return None, "; ".join(str(p) for p in validation_problems(exc))
    return message, ""


def _callback_url(producer: Producer, spec: BlastSpec) -> str | None:
    """The URL the campaign's events go to (its own, else its account's or the deployment's;
    None when none applies), or InvalidInput when its own cannot be used."""
    settings = producer.settings
    if spec.callback_url is not None:
        if problem := callbacks.url_problem(spec.callback_url):
            raise InvalidInput(f"callback_url: {problem}")
        if callbacks.secret_for(settings, spec.account) is None:
            raise InvalidInput(
                f"callback_url: no status_webhook_secret set for account {spec.account!r} or "
                "the deployment: callbacks are signed"
            )
    if not callbacks.enabled(settings):
        return None
    return callbacks.url_for(settings, spec.account, spec.callback_url)


def _start_campaign(producer: Producer, campaign: str, spec: BlastSpec, path: Path) -> None:
    campaigns.create(
        producer.redis,
        campaign,
        account=spec.account,
        template=spec.template,
        source=spec.source or str(path),
        starts=spec.send_at.timestamp() if spec.send_at else None,
    )


class _Rejects:
    """The rejects file, opened on the first rejected row: line, reason, then the row. For a
    CSV the header names the file's own columns after `line` and `reason`, so the fixed file
    can be fed back as it is (the two extra columns are ignored)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.columns: list[str] = ["row"]
        self._fh: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> _Rejects:
        return self

    def write(self, line: int, reason: str, row: list[str]) -> None:
        if self._fh is None:
            self._fh = self.path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(["line", "reason", *self.columns])
        self._csv.writerow([line, reason, *row])

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
