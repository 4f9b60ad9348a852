"""Campaigns from a CSV or JSONL file: streamed row by row, every bad row reported, the rest
enqueued.

A CSV has a header line with a `phone` column; a JSONL file has one JSON object per line with a
`phone` key, the other keys being template variables. Each row's idempotency key is
`{campaign}:{key column}` (the phone number by default), and the campaign id defaults to a digest
of the file name, account, sender and template, so running the same blast twice sends nothing
the first run already enqueued.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import ValidationError

from producer.api import CHUNK, Producer, validation_problems
from producer.template import Template
from sms import keys
from sms.errors import InvalidInput, KeyConflict, TemplateError
from sms.message import Lane, Message
from sms.phone import InvalidPhoneNumber, parse_e164
from sms.store import Admission

PHONE = "phone"
#: The longest JSONL line read; a longer one is rejected without being held whole.
MAX_LINE = 1 << 20

Format = Literal["csv", "jsonl"]
#: One input row: its line number, its values (None when unreadable), why not, and its raw form.
Row = tuple[int, dict[str, str | None] | None, str, list[str]]


@dataclass
class BlastReport:
    """What a blast did with its file."""

    campaign: str
    rows: int = 0
    enqueued: int = 0
    duplicates: int = 0  # rows whose key already names the same message: nothing sent again
    rejected: int = 0  # rows not enqueued: unreadable, invalid, or a key conflict
    rejects_path: Path | None = None
    reasons: dict[str, int] = field(default_factory=dict)


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


def source_format(path: Path) -> Format:
    """The format a file's name says: `.jsonl` or `.ndjson` is JSONL, anything else CSV."""
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"


def campaign_id_for(path: Path, spec: BlastSpec) -> str:
    """The default campaign id: the same for the same file content, account, sender, template
    and key column, so a replayed backfill is the same campaign (the file is read in chunks)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from None
    seed = "\x1f".join([spec.account, spec.sender, spec.template, spec.key_column])
    digest.update(seed.encode())
    return "c" + digest.hexdigest()[:15]


def blast(
    producer: Producer,
    path: Path,
    spec: BlastSpec,
    *,
    rejects_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
    fmt: Format | None = None,
) -> BlastReport:
    """Enqueue every valid row of a CSV or JSONL file; write each bad one to the rejects file."""
    fmt = fmt or source_format(path)
    template = Template(spec.template)
    adapter = producer.adapter(spec.account)
    campaign = spec.campaign or campaign_id_for(path, spec)
    report = BlastReport(campaign)
    rejects_path = rejects_path or path.with_name(f"{path.stem}.rejects.csv")
    try:
        fh = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from None
    with fh, _Rejects(rejects_path) as rejects:
        rows = _csv_source(fh, path, spec, template) if fmt == "csv" else _jsonl_source(fh)
        _start_campaign(producer, campaign, spec, path)
        chunk: list[tuple[Message, int, list[str]]] = []
        for line, values, reason, row in rows:
            report.rows += 1
            message = None
            if values is not None:
                message, reason = _message(
                    values, spec, template, campaign, producer.settings.default_region
                )
            if message is not None:
                problems = adapter.validate(message)
                if problems:
                    reason = "; ".join(str(p) for p in problems)
                    message = None
            if message is None:
                _reject(report, rejects, line, reason, row)
                continue
            chunk.append((message, line, row))
            if len(chunk) >= CHUNK:
                _flush(producer, chunk, report, rejects, progress)
        if chunk:
            _flush(producer, chunk, report, rejects, progress)
        producer.redis.hset(keys.campaign(campaign), mapping={"rejected": report.rejected})
        report.rejects_path = rejects_path if report.rejected else None
    if not report.rejected:
        rejects_path.unlink(missing_ok=True)
    return report


def _reject(report: BlastReport, rejects: _Rejects, line: int, reason: str, row: list[str]) -> None:
    report.rejected += 1
    kind = reason.split(":")[0]
    report.reasons[kind] = report.reasons.get(kind, 0) + 1
    rejects.write(line, reason, row)


def _flush(
    producer: Producer,
    chunk: list[tuple[Message, int, list[str]]],
    report: BlastReport,
    rejects: _Rejects,
    progress: Callable[[int], None] | None,
) -> None:
    results = producer.enqueue_valid([message for message, _, _ in chunk])
    for (message, line, row), result in zip(chunk, results, strict=True):
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


def _header(reader: Iterator[list[str]], path: Path) -> list[str]:
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(
            f"{path}: empty file, expected a header line with a 'phone' column"
        ) from None
    except csv.Error as exc:
        raise InvalidInput(f"{path}: line 1: {exc}") from None
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        raise InvalidInput(f"{path}: line 1: duplicate column names")
    return header


def _csv_source(fh: IO[str], path: Path, spec: BlastSpec, template: Template) -> Iterator[Row]:
    """Check a CSV's header against the spec and template, then yield its rows."""
    reader = csv.reader(fh)
    header = _header(reader, path)
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
    return _csv_rows(reader, header)


def _csv_rows(reader: Iterator[list[str]], header: list[str]) -> Iterator[Row]:
    for line, row in _rows(reader):
        if len(row) == 1 and row[0].startswith("\x00csv: "):
            yield line, None, "malformed CSV: " + row[0][6:], row
        elif len(row) != len(header):
            yield line, None, f"malformed row: expected {len(header)} fields, found {len(row)}", row
        else:
            yield line, dict(zip(header, row, strict=True)), "", row


def _jsonl_source(fh: IO[str]) -> Iterator[Row]:
    """Yield each non-blank line of a JSONL file as the values of one row."""
    line = 0
    while True:
        text = fh.readline(MAX_LINE + 1)
        if not text:
            return
        line += 1
        if len(text) > MAX_LINE and not text.endswith("\n"):
            while (rest := fh.readline(MAX_LINE)) and not rest.endswith("\n"):
                pass
            yield line, None, f"malformed line: longer than {MAX_LINE:,} characters", [text[:200]]
            continue
        if not text.strip():
            continue
        raw = [text.rstrip("\r\n")[:1000]]
        try:
            data = json.loads(text)
        except ValueError as exc:
            yield line, None, f"malformed JSON: {exc}", raw
            continue
        if not isinstance(data, dict):
            yield line, None, "malformed line: expected a JSON object", raw
            continue
        values = {str(k): _text(v) for k, v in data.items()}
        yield line, values, "", raw


def _text(value: object) -> str | None:
    """A JSON value as template text: strings as they are, null as missing, others as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _rows(reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) per record; a record the csv module cannot parse is skipped."""
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = getattr(reader, "line_num", line + 1)
            yield line, [f"\x00csv: {exc}"]
            continue
        line = getattr(reader, "line_num", line + 1)
        if not row or all(not f.strip() for f in row):
            continue
        yield line, row


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


def _start_campaign(producer: Producer, campaign: str, spec: BlastSpec, path: Path) -> None:
    now = time.time()
    producer.redis.hsetnx(keys.campaign(campaign), "created", repr(now))
    producer.redis.zadd(keys.CAMPAIGNS, {campaign: now}, nx=True)
    producer.redis.hsetnx(keys.campaign(campaign), "state", "running")
    producer.redis.hset(
        keys.campaign(campaign),
        mapping={
            "account": spec.account,
            "template": spec.template,
            "source": spec.source or str(path),
        },
    )


class _Rejects:
    """The rejects file, opened on the first rejected row: line, reason, then the row."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> _Rejects:
        return self

    def write(self, line: int, reason: str, row: list[str]) -> None:
        if self._fh is None:
            self._fh = self.path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh)
            self._csv.writerow(["line", "reason", "row"])
        self._csv.writerow([line, reason, *row])

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
