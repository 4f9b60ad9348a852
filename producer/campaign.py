"""Campaigns from a CSV or JSONL file: streamed row by row, every bad row reported, the rest
enqueued.

A CSV has a header line with a `phone` column; a JSONL file has one JSON object per line with a
`phone` key, the other keys being template variables. Each row's idempotency key is
`{campaign}:{key column}` (the phone number by default), and the campaign id defaults to
`sms.campaigns.default_id` of the file's content, account, sender, template and key column, so
running the same blast twice, through any door, sends nothing the first run already enqueued.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import redis.exceptions
from kombu.exceptions import OperationalError
from pydantic import TypeAdapter, ValidationError

from producer.api import CHUNK, Producer, smartened, validation_problems
from producer.rejects import Entry as RejectEntry
from producer.rejects import json_row
from producer.rejects import keep as keep_rejects
from producer.sources import Row, csv_header, csv_records, csv_rows, jsonl_rows
from producer.template import Template
from sms import callbacks, campaigns
from sms.campaigns import IngestState
from sms.errors import InvalidInput, InvalidMessage, KeyConflict, TemplateError
from sms.message import Lane, Message, Sender, Stamp
from sms.phone import InvalidPhoneNumber, parse_e164
from sms.store import Admission, Enqueued, Entry

PHONE = "phone"
#: Rejected rows (line and reason, not the row) kept in the campaign's hash for the dashboard.
REJECTS_KEPT = 100

Format = Literal["csv", "jsonl"]
#: What stops a blast part way: Redis (or the broker on it) out of reach, or an interrupt.
STOPS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError)
#: Seconds between two writes of a blast's progress to its campaign's hash, at most.
PROGRESS_EVERY = 0.5


class Interrupted(Exception):
    """Raised by a blast's `progress` callback to stop it between two chunks (the API's
    ingest when the process stops): reported as an interrupted blast."""


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
    content = content or content_digest(path)
    return campaigns.default_id(
        spec.account, sender_of(spec), spec.template, spec.key_column, content
    )


def sender_of(spec: BlastSpec) -> str:
    """The blast's sender as its messages carry it (E.164 or a short code), or as given when
    it is not one (every row is refused for it anyway)."""
    try:
        return str(_SENDER.validate_python(spec.sender))
    except ValidationError:
        return spec.sender


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

    `sink` sees messages as written (before smart encoding), for the preflight's numbers
    (producer/preflight.py): with `dry_run`, every valid one, and nothing is recorded or
    enqueued; else each message this blast enqueued (not the repeats, conflicts and
    suppressed), once its chunk is written.

    The counts always add up: rows = enqueued + duplicates + rejected + suppressed. When
    Redis (or the broker) goes out of reach, or the blast is interrupted, it stops, and its
    report says where (`stopped_at`, the first line not done) and why; the rows before are
    counted, the rest are not. Running the same blast again is safe: what was enqueued counts
    as duplicates. A cancelled campaign is refused (Conflict) before any row is read.
    """
    fmt = fmt or source_format(path)
    campaign = campaign_id_for(path, spec, content)
    campaigns.refuse_cancelled(producer.redis, campaign)
    hook = _callback_url(producer, spec)
    template = Template(spec.template)
    adapter = producer.adapter(spec.account)
    report = BlastReport(campaign)
    rejects_path = rejects_path or path.with_name(f"{path.stem}.rejects.{fmt}")
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from None
    with (
        fh,
        _rare_collections,
        _Rejects(rejects_path, fmt) as rejects,
        _Writer(producer, report, rejects, progress, sink) as out,
    ):
        rows = _csv_source(fh, path, spec, template, rejects) if fmt == "csv" else jsonl_rows(fh)
        messages = _RowMessages(spec, template, campaign, producer.settings.default_region, adapter)
        columns = Columns(rejects.columns if fmt == "csv" else None)
        out.callback_url = spec.callback_url
        chunk: list[_Entry] = []
        smart = spec.smart_encoding
        if smart is None:
            smart = producer.settings.smart_encoding_for(spec.account)
        try:
            if not dry_run:
                _start_campaign(producer, campaign, spec, path)
                callbacks.open_campaign(producer.redis, campaign, hook)
                out.before = campaigns.ingest_counts(producer.redis, campaign)
                out.record(IngestState.READING)
                out.recording = True
                rejects.keep = True
            for row in rows:
                report.rows += 1
                message, reason = messages.of(row)
                if message is None:
                    _reject(report, rejects, row.line, reason, row.raw)
                    if len(rejects.kept) >= CHUNK:
                        out.keep_rejects()
                    continue
                if dry_run:
                    if sink is not None:
                        sink(message)
                    continue
                as_written = message
                if smart:
                    message = smartened(message)
                entry = (
                    message,
                    row.line,
                    row.raw,
                    columns.stored(row),
                    messages.fingerprint(message),
                    messages.data(message),
                    as_written,
                )
                chunk.append(entry)
                if len(chunk) >= CHUNK:
                    out.write(chunk)
                    chunk = []
            if chunk:
                out.write(chunk)
                chunk = []
            out.settle()
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
                out.record(IngestState.DONE)
        except (*STOPS, KeyboardInterrupt, Interrupted) as exc:
            # The messages of the chunks in hand were not (all) enqueued: not counted as done.
            undone = out.stop() + chunk
            report.rows -= len(undone)
            report.stopped_at = undone[0][1] if undone else None
            report.stopped = (
                f"Redis unreachable: {exc}" if isinstance(exc, STOPS) else "interrupted"
            )
            if out.recording:
                with contextlib.suppress(*STOPS):
                    out.record(IngestState.STOPPED, report.stopped, report.stopped_at)
        report.rejects_path = rejects_path if report.rejected else None
    if not report.rejected:
        rejects_path.unlink(missing_ok=True)
    return report


#: The cyclic collector's first threshold while a blast runs (Python's default is 700).
BLAST_GC_THRESHOLD = 50_000


class _RareCollections:
    """Fewer runs of the cyclic garbage collector while blasts run (a context manager; every
    blast of the process shares one, and the first threshold is put back when the last ends).

    A blast makes a few container objects a row (its message, the entry holding it) that live
    until their chunk is written: with the default threshold each chunk is promoted to the
    oldest generation, and every few chunks that sets off a collection of the process's whole
    heap, which cost a sixth of a blast's CPU. Nothing a blast makes per row is a cycle, so
    reference counting frees it as before; the collector still runs, once 50,000 more
    containers have been made than freed. A threshold already higher, or 0 (no collection),
    is left as it is."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = 0
        self._saved: tuple[int, int, int] | None = None

    def __enter__(self) -> None:
        with self._lock:
            if self._running == 0:
                first, *rest = gc.get_threshold()
                if 0 < first < BLAST_GC_THRESHOLD:
                    self._saved = gc.get_threshold()
                    gc.set_threshold(BLAST_GC_THRESHOLD, *rest)
            self._running += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0 and self._saved is not None:
                gc.set_threshold(*self._saved)
                self._saved = None


_rare_collections = _RareCollections()


def check_file(producer: Producer, path: Path, spec: BlastSpec, fmt: Format | None = None) -> None:
    """What would stop a blast of the file before its first row (a CSV's header against the
    spec and the template, the callback URL), raised as blast raises it (InvalidInput,
    TemplateError); nothing is read past the header."""
    fmt = fmt or source_format(path)
    _callback_url(producer, spec)
    template = Template(spec.template)
    if fmt == "csv":
        try:
            fh = path.open("rb")
        except OSError as exc:
            raise InvalidInput(f"{path}: {exc.strerror}") from None
        with fh:
            _csv_source(fh, path, spec, template, _Rejects(path.with_suffix(".unused")))


def _reject(report: BlastReport, rejects: _Rejects, line: int, reason: str, row: list[str]) -> None:
    report.rejected += 1
    kind = reason.split(":")[0]
    report.reasons[kind] = report.reasons.get(kind, 0) + 1
    rejects.write(line, reason, row)
    if len(report.first_rejects) < REJECTS_KEPT:
        report.first_rejects.append((line, reason))


#: JSON as `Columns.stored` writes it (one encoder for every row, not one per call).
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: One string as `_compact` writes it.
_string = json.encoder.encode_basestring


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
            # `_compact(row.raw)`, a list of strings, written directly: the same text.
            return "[" + ",".join(map(_string, row.raw)) + "]"
        values = row.values or {}
        for name in values:
            if name not in self.seen and len(self.seen) < self.MAX_COLUMNS:
                self.seen[name] = None
        return _compact(values)


#: One valid row on its way to Redis: its message (smartened when smart encoding is on), input
#: line, fields as read, the row as kept on its record (`Columns.stored`), the message's
#: fingerprint and its JSON, and the message as written (before smart encoding, for the sink).
_Entry = tuple[Message, int, list[str], str, str, str, Message]
#: What writing a chunk did: enqueue.lua's answer for each of its entries, in order.
_Written = list[Enqueued]


class _RowMessages:
    """Each row's message, or why it is rejected. The first valid row's message is validated
    in full and becomes the campaign's `Stamp`: the account, sender, campaign, lane and times
    are the same for every row, so later rows check only what is theirs (number, body, key)."""

    def __init__(
        self,
        spec: BlastSpec,
        template: Template,
        campaign: str,
        region: str | None,
        adapter: Any,
    ) -> None:
        self.spec = spec
        self.template = template
        self.campaign = campaign
        self.region = region
        self.adapter = adapter
        self.stamp: Stamp | None = None

    def of(self, row: Row) -> tuple[Message | None, str]:
        """The message of one row, or None and why it is rejected."""
        if row.values is None:
            return None, row.reason
        message, reason = self._message(row.values)
        if message is not None:
            problems = self.adapter.validate(message)
            if problems:
                return None, "; ".join(str(p) for p in problems)
        return message, reason

    def fingerprint(self, message: Message) -> str:
        """`message.fingerprint()`, cheaper through the stamp."""
        return message.fingerprint() if self.stamp is None else self.stamp.fingerprint(message)

    def data(self, message: Message) -> str:
        """`message.record_json()`, cheaper through the stamp."""
        return message.record_json() if self.stamp is None else self.stamp.data(message)

    def _message(self, values: dict[str, str | None]) -> tuple[Message | None, str]:
        spec = self.spec
        phone = values.get(PHONE)
        if phone is None:
            return None, "phone: missing"
        try:
            to = parse_e164(phone, self.region)
        except InvalidPhoneNumber as exc:
            return None, f"phone: {exc.reason} ({phone!r})"
        try:
            body = self.template.render(values)
        except TemplateError as exc:
            return None, f"template: {exc}"
        key = (values.get(spec.key_column) or "").strip() if spec.key_column != PHONE else to
        if not key:
            return None, f"{spec.key_column}: empty key"
        if self.stamp is not None:
            try:
                return self.stamp.message(to, body, f"{self.campaign}:{key}"), ""
            except InvalidMessage as exc:
                return None, "; ".join(str(p) for p in exc.problems)
        try:
            message = Message(
                account=spec.account,
                to=to,
                sender=spec.sender,
                body=body,
                campaign=self.campaign,
                idempotency_key=f"{self.campaign}:{key}",
                lane=spec.lane,
                send_at=spec.send_at,
                expires_at=spec.expires_at,
            )
        except ValidationError as exc:
            return None, "; ".join(str(p) for p in validation_problems(exc))
        self.stamp = Stamp(message)
        return message, ""


#: Chunks handed to the writer's thread and not yet counted: with two, the thread starts on
#: the next chunk as soon as the server answers one, without waiting for the blast's thread
#: to count it, so the server is rarely left without a chunk to write.
IN_HAND = 2


class _WriteSkipped(Exception):
    """A chunk not written because a chunk before it could not be."""


class _Writer:
    """Writes a blast's chunks to Redis in a thread of its own, one chunk at a time and in
    order, while the next chunk is read and validated: the server runs enqueue.lua on one chunk
    as this process parses the next. Each chunk's answer is counted (and its conflicts written
    to the rejects file) in the blast's own thread, in order, at most IN_HAND chunks behind.
    Once a chunk cannot be written, none after it is: the rows before the first chunk not
    written are all counted, and none after."""

    def __init__(
        self,
        producer: Producer,
        report: BlastReport,
        rejects: _Rejects,
        progress: Callable[[int], None] | None,
        sink: Callable[[Message], None] | None = None,
    ) -> None:
        self.producer = producer
        self.report = report
        self.rejects = rejects
        self.progress = progress
        self.sink = sink
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="salvo-blast")
        self._pending: deque[tuple[Future[_Written], list[_Entry]]] = deque()
        self._failed = False  # set by the writer's thread: no chunk after is written
        self.recording = False  # whether progress goes to the campaign's hash (not a dry run)
        self.callback_url: str | None = None  # the campaign's own, for enqueue_items
        self._recorded = 0.0
        #: The campaign's ingest counts before this run (the report's merge into them is the
        #: campaign's: sms.campaigns.merge_ingest).
        self.before: dict[str, int] = {}
        #: This run's counts as its last write left them in the campaign's (none yet: zeros).
        self.written: dict[str, int] = {}

    def keep_rejects(self) -> None:
        """Write the rejected rows not written yet to the campaign's (producer/rejects.py)."""
        kept, self.rejects.kept = self.rejects.kept, []
        keep_rejects(self.producer.redis, self.report.campaign, kept)

    def record(self, state: IngestState, reason: str = "", stopped_at: int | None = None) -> None:
        """Write the rejected rows not written yet, then the ingest's state and counts to the
        campaign's hash: this run's, and the campaign's (merged with `before`)."""
        self.keep_rejects()
        report = self.report
        counts = {name: getattr(report, name) for name in campaigns.INGEST_COUNTS}
        campaigns.record_ingest(
            self.producer.redis,
            report.campaign,
            state,
            counts,
            before=self.before,
            written=self.written,
            reason=reason,
            stopped_at=stopped_at,
        )
        self.written = counts  # what the campaign's counts hold of this run now
        self._recorded = time.monotonic()

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def write(self, chunk: list[_Entry]) -> None:
        """Make the chunk's entries for enqueue.lua here, while the chunk before is written
        (the writer's thread then only waits for the server); count the chunk before (its
        errors are raised here), then send this one."""
        items = self.producer.enqueue_items(
            [e[0] for e in chunk],
            [e[1] for e in chunk],
            [e[3] for e in chunk],
            self.callback_url,
            [e[4] for e in chunk],
            [e[5] for e in chunk],
            suppress=True,
        )
        while len(self._pending) >= IN_HAND:
            self._settle_one()
        future = self._pool.submit(self._write, chunk, items)
        self._pending.append((future, chunk))

    def _write(self, chunk: list[_Entry], items: list[Entry]) -> _Written:
        """In the writer's thread: write one chunk from its entries (made in the blast's
        thread; enqueue.lua leaves out the opted-out numbers as it writes), in one round trip,
        unless a chunk before it failed."""
        if self._failed:
            raise _WriteSkipped
        try:
            return self.producer.enqueue_prepared([e[0] for e in chunk], items)
        except BaseException:
            self._failed = True
            raise

    def settle(self) -> None:
        """Wait for every chunk in hand and count what became of their rows."""
        while self._pending:
            self._settle_one()

    def _settle_one(self) -> None:
        future, chunk = self._pending[0]
        written = future.result()
        self._pending.popleft()
        self._count(chunk, written)

    def stop(self) -> list[_Entry]:
        """After a stop: wait for the chunks in hand; count those written up to the first that
        was not, and answer the entries of that one and of every one after it."""
        undone: list[_Entry] = []
        while self._pending:
            future, chunk = self._pending.popleft()
            try:
                written = future.result()
            except Exception:
                undone += chunk
                continue
            if undone:  # written after one that was not: cannot happen, but never count it
                undone += chunk
            else:  # counted, with no progress call: the caller's may be what stopped it
                self._count(chunk, written, stopping=True)
        return undone

    def _count(self, chunk: list[_Entry], written: _Written, *, stopping: bool = False) -> None:
        report = self.report
        for (message, line, row, *_, as_written), result in zip(chunk, written, strict=True):
            if result.admission is Admission.NEW:
                report.enqueued += 1
                if self.sink is not None:
                    self.sink(as_written)
            elif result.admission is Admission.REPEAT:
                report.duplicates += 1
            elif result.admission is Admission.SUPPRESSED:
                report.suppressed += 1
            else:
                conflict = KeyConflict(line, message.idempotency_key or "", result.id)
                _reject(report, self.rejects, line, f"conflict: {conflict}", row)
        if stopping:
            return
        if self.recording and time.monotonic() - self._recorded >= PROGRESS_EVERY:
            self.record(IngestState.READING)
        if self.progress:
            self.progress(len(chunk))


def phone_header(header: list[str], path: Path, column: str | None) -> list[str]:
    """The header with its column of numbers named `phone`: the column `column` names (exactly,
    else in any case), or by default the one named `phone` in any case (`Phone`, `PHONE`)."""
    wanted = column or PHONE
    found = [i for i, name in enumerate(header) if name == wanted] or [
        i for i, name in enumerate(header) if name.strip().casefold() == wanted.casefold()
    ]
    if len(found) != 1:
        why = "no" if not found else "more than one"
        hint = "; name the column of numbers with --phone-column" if not found else ""
        if not found and len(header) == 1 and (";" in header[0] or "\t" in header[0]):
            sep = "tab" if "\t" in header[0] else "';'"
            hint = f"; the header looks {sep}-separated: save the file as CSV with commas"
        raise InvalidInput(
            f"{path}: line 1: {why} {wanted!r} column (columns: {', '.join(header)}){hint}"
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
        sender=sender_of(spec),
        template=spec.template,
        source=spec.source or str(path),
        starts=spec.send_at.timestamp() if spec.send_at else None,
    )


class _Rejects:
    """The rejects file, opened on the first rejected row, in the input's format, so the fixed
    file can be fed back as it is: a CSV's has the header `line,reason` and the file's own
    columns, each row its line, reason and fields (the two extra columns are ignored); a JSONL
    file's has one object per row, its own keys with `line` and `reason` (a line that is not
    an object is under `row`), as `GET /v1/campaigns/{id}/rejects` gives them
    (producer/rejects.py)."""

    def __init__(self, path: Path, fmt: Format = "csv") -> None:
        self.path = path
        self.fmt = fmt
        self.columns: list[str] = ["row"]
        self.keep = False  # whether rejected rows are also kept for Redis (a real blast)
        self.kept: list[RejectEntry] = []  # those not written to Redis yet
        self._fh: IO[str] | None = None
        self._csv: Any = None

    def __enter__(self) -> _Rejects:
        return self

    def write(self, line: int, reason: str, row: list[str]) -> None:
        kept: list[str] | str = row if self.fmt == "csv" else row[0] if row else ""
        if self._fh is None:
            self._fh = self.path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh)
            if self.fmt == "csv":
                self._csv.writerow(["line", "reason", *self.columns])
        if self.fmt == "csv":
            self._csv.writerow([line, reason, *row])
        else:
            entry = json_row(line, reason, kept, [])
            self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
        if self.keep:
            self.kept.append((line, reason, kept))

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
