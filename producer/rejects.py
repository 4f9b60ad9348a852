"""A campaign's rejected rows: every one kept in Redis by the blast, read back as the rejects
file a blast writes, CSV or JSONL, so a fixed file can be fed back in.

The blast keeps each rejected row in `keys.campaign_rejects` (a sorted set scored by line) as
the JSON `[line, reason, row]`, `row` being a CSV row's fields as read (an unreadable row: its
text, cut at 1,000 characters) or a JSONL line's text. Running the same blast again adds
nothing: the same row rejected for the same reason is the same member.

Read back (`chunks`), a CSV has the header `line,reason` and the campaign's own columns, each
row its line, its reason and its fields; JSONL has one object per row, the row's own keys (a
CSV row's fields by column) with `line` and `reason` (a row that is not an object, or a CSV
row of another width, under `row`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any, Literal, cast

import redis

from sms import campaigns, keys

Format = Literal["csv", "jsonl"]
#: Rejected rows read from Redis at a time.
PAGE = 1000

#: One rejected row: its first line, the reason, and the row as read (fields, or a line's text).
Entry = tuple[int, str, "list[str] | str"]


def keep(client: redis.Redis, campaign_id: str, entries: Sequence[Entry]) -> None:
    """Add rejected rows to the campaign's (one round trip)."""
    if entries:
        members = {
            json.dumps([line, reason, row], ensure_ascii=False, separators=(",", ":")): line
            for line, reason, row in entries
        }
        client.zadd(keys.campaign_rejects(campaign_id), cast(Any, members))


def entries(client: redis.Redis, campaign_id: str) -> Iterator[Entry]:
    """The campaign's rejected rows in the order of their lines, a page at a time."""
    key = keys.campaign_rejects(campaign_id)
    start = 0
    while True:
        page = cast(list[str], client.zrange(key, start, start + PAGE - 1))
        for member in page:
            line, reason, row = json.loads(member)
            yield int(line), str(reason), row
        if len(page) < PAGE:
            return
        start += PAGE


def chunks(client: redis.Redis, campaign_id: str, fmt: Format) -> Iterator[str]:
    """The rejects file of a campaign, as text a page at a time (NotFound for no campaign)."""
    columns = list(campaigns.read(client, campaign_id).columns)
    if fmt == "csv":
        yield _csv_line(["line", "reason", *(columns or ["row"])])
    lines: list[str] = []
    for line, reason, row in entries(client, campaign_id):
        lines.append(
            _csv_line(csv_row(line, reason, row, columns))
            if fmt == "csv"
            else json.dumps(json_row(line, reason, row, columns), ensure_ascii=False) + "\n"
        )
        if len(lines) >= PAGE:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


def csv_row(line: int, reason: str, row: list[str] | str, columns: list[str]) -> list[str]:
    """A rejected row as the CSV rejects file writes it: line, reason, then its fields (a
    JSONL line's values by column, or its text when it is not an object)."""
    if isinstance(row, list):
        return [str(line), reason, *row]
    found = _object(row)
    if found is None or not columns:
        return [str(line), reason, row]
    return [str(line), reason, *(_text(found.get(name)) for name in columns)]


def json_row(line: int, reason: str, row: list[str] | str, columns: list[str]) -> dict[str, Any]:
    """A rejected row as the JSONL rejects file writes it: the row's own keys (a CSV row's
    fields by column), then `line` and `reason`; under `row` when it cannot be read so."""
    found: dict[str, Any] | None
    if isinstance(row, list):
        found = dict(zip(columns, row, strict=True)) if len(row) == len(columns) else None
    else:
        found = _object(row)
    if found is None:
        return {"row": row, "line": line, "reason": reason}
    return {
        **{k: v for k, v in found.items() if k not in ("line", "reason")},
        "line": line,
        "reason": reason,
    }


def _object(text: str) -> dict[str, Any] | None:
    try:
        found = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return found if isinstance(found, dict) else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _csv_line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(fields)
    return out.getvalue()
