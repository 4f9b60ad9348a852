"""A campaign's messages in the order of its input rows, a page at a time: for listings
(`GET /v1/campaigns/{id}/messages`) and `salvo export`.

The rows index (`keys.campaign_rows`, id -> input line, written by enqueue.lua with the record)
is read by line number, so a page never scans the keyspace, and a cursor (the last line read)
walks the campaign without a gap or a repeat while it sends. Records are read a page at a time,
so an export of any size runs in flat memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

import redis

from sms import campaigns, keys
from sms.campaigns import Campaign
from sms.errors import NotFound
from sms.message import Status
from sms.store import Record

#: Records read per round trip.
PAGE = 500
#: The most a listing answers at once.
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Row:
    """One message of a campaign, with the line of its input row."""

    line: int
    record: Record

    def as_dict(self) -> dict[str, Any]:
        """The record's view (sms.store.Record.as_dict) with its line."""
        return {"line": self.line, **self.record.as_dict()}


@dataclass(frozen=True, slots=True)
class Page:
    """Some rows, and the cursor of the next page (None once the campaign is read)."""

    rows: list[Row]
    next: int | None


def page(
    client: redis.Redis,
    campaign: str,
    *,
    after: int = 0,
    limit: int = 100,
    status: Status | None = None,
) -> Page:
    """Up to `limit` of the campaign's messages whose input line is after `after`, in line
    order, only those in `status` when given; at most a few pages of the index are read per
    call, so a rare status answers fewer rows and a cursor to go on from."""
    rows: list[Row] = []
    cursor = after
    for _ in range(10):
        found = cast(
            list[tuple[str, float]],
            client.zrangebyscore(
                keys.campaign_rows(campaign),
                f"({cursor}",
                "+inf",
                start=0,
                num=max(limit - len(rows), PAGE) if status else limit - len(rows),
                withscores=True,
            ),
        )
        if not found:
            return Page(rows, None)
        pipe = client.pipeline(transaction=False)
        for mid, _ in found:
            pipe.hgetall(keys.message(mid))
        for (mid, line), raw in zip(found, pipe.execute(), strict=True):
            cursor = int(line)
            if not raw or "data" not in raw:
                continue  # its record's retention ended
            record = Record.from_hash(mid, raw)
            if status is None or record.status is status:
                rows.append(Row(int(line), record))
                if len(rows) >= limit:
                    return Page(rows, cursor)
    return Page(rows, cursor)


def walk(client: redis.Redis, campaign: str, status: Status | None = None) -> Iterator[Row]:
    """Every message of the campaign in line order (in `status` when given), a page at a
    time."""
    after = 0
    while True:
        found = page(client, campaign, after=after, limit=PAGE, status=status)
        yield from found.rows
        if found.next is None:
            return
        after = found.next


#: The columns of an export, in order.
COLUMNS = (
    "line",
    "to",
    "status",
    "reason",
    "account",
    "provider_id",
    "attempts",
    "send_at",
    "created",
    "updated",
    "history",
)


def export_line(row: Row) -> list[str]:
    """One row of a CSV export: its columns (`COLUMNS`); the history is every change as
    `time status reason`, separated by `; `."""
    data = row.as_dict()
    history = "; ".join(
        " ".join(part for part in (h["at"], h["status"], h["reason"]) if part)
        for h in data["history"]
    )
    values = {**data, "history": history}
    return ["" if values[c] is None else str(values[c]) for c in COLUMNS]


def export(
    client: redis.Redis,
    campaign: str,
    out: IO[str],
    *,
    fmt: str = "csv",
    status: Status | None = None,
) -> int:
    """Write the campaign's messages in row order to `out` as CSV (a header, then `COLUMNS`)
    or JSONL (each message's full view); returns how many. Reads a page at a time."""
    count = 0
    writer = csv.writer(out)
    if fmt == "csv":
        writer.writerow(COLUMNS)
    for row in walk(client, campaign, status):
        if fmt == "csv":
            writer.writerow(export_line(row))
        else:
            out.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class CampaignPage:
    """Some campaigns, newest first, and the cursor of the next page (None at the end)."""

    campaigns: list[Campaign]
    next: str | None


def campaigns_page(client: redis.Redis, *, before: str = "+inf", limit: int = 50) -> CampaignPage:
    """Up to `limit` campaigns created before `before` (an epoch-seconds cursor from the page
    before), newest first, from the campaign index `keys.CAMPAIGNS`."""
    bound = before if before == "+inf" else f"({before}"
    found = cast(
        list[tuple[str, float]],
        client.zrevrangebyscore(
            keys.CAMPAIGNS, bound, "-inf", start=0, num=limit + 1, withscores=True
        ),
    )
    more = len(found) > limit
    found = found[:limit]
    out = []
    for cid, _ in found:
        try:
            out.append(campaigns.read(client, cid))
        except NotFound:
            continue  # listed, but its record is gone
    return CampaignPage(out, repr(found[-1][1]) if more and found else None)
