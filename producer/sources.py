"""Campaign sources: CSV and JSONL files read as bytes and decoded row by row.

A file is never decoded whole: one row that is not UTF-8, holds a NUL, is longer than
`MAX_RECORD` bytes or cannot be parsed is a reject with its first line number and the reason,
and every other row reads as if it were not there. A CSV record may span lines (a quoted field
with line breaks); it ends at a line break outside quotes (RFC 4180). Every row is yielded,
blank ones included (a reject "blank row"), so a file's row count is its records after the
header, and the counts of a blast always add up to it.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from sms.errors import InvalidInput

#: The longest record (a CSV row with all its lines, a JSONL line) read, in bytes; a longer one
#: is a reject, skipped without being held in memory. Any single field may be this long.
MAX_RECORD = 1 << 20
#: How much of an unreadable row the rejects file shows.
SHOWN = 1000

_QUOTE = ord('"')
_START = -1  # the "byte" before a record's first one
_FIELD_START = frozenset({_START, ord(",")})
#: What no value may hold: NUL, or a lone surrogate (a JSON `\ud800` escape).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class Row(NamedTuple):
    """One record of a source: its first line, its values (None when it cannot be read, then
    `reason` says why) and its fields as read, for the rejects file."""

    line: int
    values: dict[str, str | None] | None
    reason: str
    raw: list[str]


def csv_records(fh: IO[bytes]) -> Iterator[tuple[int, bytes | None]]:
    """Each CSV record's first line number and bytes (None for one over MAX_RECORD, skipped)."""
    line = 0
    while True:
        first, parts, size = line + 1, [], 0
        quoted, before = False, _START
        while chunk := fh.readline(MAX_RECORD + 1):
            size += len(chunk)
            if quoted or _QUOTE in chunk:
                quoted = _quoted_after(chunk, quoted, before)
            before = chunk[-1]
            if size <= MAX_RECORD:
                parts.append(chunk)
            if chunk.endswith(b"\n"):
                line += 1
                if not quoted:
                    break
        if size == 0:
            return
        yield first, b"".join(parts) if size <= MAX_RECORD else None


def _quoted_after(chunk: bytes, quoted: bool, before: int) -> bool:
    """Whether a record is inside a quoted field after `chunk`, as Python's csv module reads
    it: a quote opens a quoted field only at the start of a field (elsewhere it is a literal
    character, as in `5" screen`), `""` inside one is a quote, and another quote closes it.
    `before` is the byte before the chunk (`_START` at the start of a record)."""
    at = chunk.find(b'"')
    while at != -1:
        if quoted:
            if chunk[at + 1 : at + 2] == b'"':
                at = chunk.find(b'"', at + 2)
                continue
            quoted = False
        elif (chunk[at - 1] if at else before) in _FIELD_START:
            quoted = True
        at = chunk.find(b'"', at + 1)
    return quoted


def decode(record: bytes) -> tuple[str | None, str]:
    """A record's text, or None and why it cannot be read."""
    try:
        text = record.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not valid UTF-8: byte {exc.start + 1} of the row is {record[exc.start]:#04x}"
    if "\x00" in text:
        return None, f"NUL character at byte {record.index(0) + 1} of the row"
    return text, ""


def shown(record: bytes) -> list[str]:
    """An unreadable record, cut short and made printable, for the rejects file."""
    return [record[:SHOWN].decode("utf-8", "replace").replace("\x00", "\\0").rstrip("\r\n")]


def _fields(text: str) -> list[str]:
    """The fields of one CSV record's text (csv.Error when malformed). A record with no quote
    and no line break but the one ending it (most of them) is split on commas, which is what
    Python's csv module makes of it; any other goes through the csv module."""
    body = text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith("\n") else text
    if '"' not in body and "\r" not in body and "\n" not in body:
        return body.split(",") if body else []
    if csv.field_size_limit() < MAX_RECORD:
        csv.field_size_limit(MAX_RECORD)
    return next(csv.reader([text]), [])  # the line break ending it is csv's to strip


def blank(fields: list[str]) -> bool:
    """Whether a row holds nothing: an empty line, or only commas and spaces."""
    return not "".join(fields).strip()


def csv_header(records: Iterator[tuple[int, bytes | None]], path: Path) -> list[str]:
    """A CSV's header (its first record), or InvalidInput saying what is wrong with it."""
    try:
        _, record = next(records)
    except StopIteration:
        raise InvalidInput(
            f"{path}: empty file, expected a header line with a 'phone' column"
        ) from None
    if record is None:
        raise InvalidInput(f"{path}: line 1: header longer than {MAX_RECORD:,} bytes")
    if record.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput(f"{path}: the file is UTF-16; save it as UTF-8 (CSV UTF-8)")
    text, why = decode(record.removeprefix(b"\xef\xbb\xbf"))
    if text is None:
        raise InvalidInput(f"{path}: line 1: {why}; save the file as UTF-8")
    try:
        header = [h.strip() for h in _fields(text)]
    except csv.Error as exc:
        raise InvalidInput(f"{path}: line 1: {exc}") from None
    if len(set(header)) != len(header):
        raise InvalidInput(f"{path}: line 1: duplicate column names")
    return header


def csv_rows(records: Iterator[tuple[int, bytes | None]], header: list[str]) -> Iterator[Row]:
    """Each record after the header as a Row of values by column name, or a reject."""
    for line, record in records:
        if record is None:
            yield Row(line, None, f"malformed row: longer than {MAX_RECORD:,} bytes", [])
            continue
        text, why = decode(record)
        if text is None:
            yield Row(line, None, why, shown(record))
            continue
        try:
            fields = _fields(text)
        except csv.Error as exc:
            yield Row(line, None, f"malformed CSV: {exc}", shown(record))
            continue
        if blank(fields):
            yield Row(line, None, "blank row", fields)
        elif len(fields) != len(header):
            reason = f"malformed row: expected {len(header)} fields, found {len(fields)}"
            yield Row(line, None, reason, fields)
        else:
            yield Row(line, dict(zip(header, fields, strict=True)), "", fields)


def jsonl_rows(fh: IO[bytes]) -> Iterator[Row]:
    """Each line of a JSONL file as a Row of the object's values, or a reject."""
    line = 0
    while record := fh.readline(MAX_RECORD + 1):
        line += 1
        if len(record) > MAX_RECORD and not record.endswith(b"\n"):
            while (rest := fh.readline(MAX_RECORD)) and not rest.endswith(b"\n"):
                pass
            reason = f"malformed line: longer than {MAX_RECORD:,} bytes"
            yield Row(line, None, reason, shown(record))
            continue
        text, why = decode(record.removeprefix(b"\xef\xbb\xbf") if line == 1 else record)
        if text is None:
            yield Row(line, None, why, shown(record))
            continue
        raw = [text.rstrip("\r\n")[:SHOWN]]
        if not text.strip():
            yield Row(line, None, "blank row", [])
            continue
        try:
            data = json.loads(text)
        except RecursionError:
            yield Row(line, None, "malformed JSON: nested too deep", raw)
            continue
        except ValueError as exc:
            yield Row(line, None, f"malformed JSON: {exc}", raw)
            continue
        if not isinstance(data, dict):
            yield Row(line, None, "malformed line: expected a JSON object", raw)
            continue
        values = {str(k): _text(v) for k, v in data.items()}
        bad = next((k for k, v in values.items() if v and _UNSTORABLE.search(v)), None)
        if bad is not None:
            yield Row(line, None, f"{bad}: NUL or lone surrogate in the value", raw)
            continue
        yield Row(line, values, "", raw)


def _text(value: object) -> str | None:
    """A JSON value as template text: strings as they are, null as missing, others as JSON."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except RecursionError:
        return "[...]"
