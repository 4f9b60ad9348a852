"""A campaign's messages in the order of its input rows, a page at a time: for listings
(`GET /v1/campaigns/{id}/messages`) and `salvo export`.

The rows index (`keys.campaign_rows`, id -> input line, written by enqueue.lua with the record)
is read by line number, so a page never scans the keyspace, and a cursor (the last line read)
walks the campaign without a gap or a repeat while it sends. Records are read a page at a time,
so an export of any size runs in flat memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any, cast

import redis

from sms import campaigns, keys
from sms.campaigns import Campaign
from sms.encoding import segment_info
from sms.errors import NotFound
from sms.holds import holding
from sms.message import Message, Status
from sms.settings import Settings
from sms.store import Record

#: Records read per round trip.
PAGE = 500
#: The most a listing answers at once.
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Row:
    """One message of a campaign, with the line of its input row, the campaign's input columns
    and the provider its account sends through."""

    line: int
    record: Record
    columns: tuple[str, ...] = ()
    provider: str = ""

    @property
    def values(self) -> dict[str, Any]:
        """The input row's own columns by name (a CSV's fields, a JSONL line's object)."""
        if not self.record.row:
            return {}
        data = json.loads(self.record.row)
        if isinstance(data, list):
            names = list(self.columns) + [
                f"column{i + 1}" for i in range(len(self.columns), len(data))
            ]
            return dict(zip(names, data, strict=False))
        return cast(dict[str, Any], data)

    def as_dict(self) -> dict[str, Any]:
        """The record's view (sms.store.Record.as_dict) with its line, provider, segments and
        input row."""
        return {
            "line": self.line,
            **self.record.as_dict(),
            "provider": self.provider,
            "segments": segments(self.record.message),
            "row": self.values,
        }


def segments(message: Message) -> int:
    """The parts a message is sent (and billed) as: an SMS's segments, 1 for an MMS."""
    return 1 if message.is_mms else segment_info(message.body).segments


def providers(settings: Settings) -> dict[str, str]:
    """Each configured account's provider (its kind), for the `provider` of a row."""
    return {name: account.kind for name, account in settings.providers.items()}


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
    kinds: Mapping[str, str] | None = None,
) -> Page:
    """Up to `limit` of the campaign's messages whose input line is after `after`, in line
    order, only those in `status` when given; at most a few pages of the index are read per
    call, so a rare status answers fewer rows and a cursor to go on from. `kinds` names each
    account's provider (`providers`)."""
    rows: list[Row] = []
    cursor = after
    kinds = kinds or {}
    stored = cast(str | None, client.hget(keys.campaign(campaign), "columns"))
    columns = tuple(json.loads(stored)) if stored else ()
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
            return held(client, Page(rows, None))
        pipe = client.pipeline(transaction=False)
        for mid, _ in found:
            pipe.hgetall(keys.message(mid))
        for (mid, line), raw in zip(found, pipe.execute(), strict=True):
            cursor = int(line)
            if not raw or "data" not in raw:
                continue  # its record's retention ended
            record = Record.from_hash(mid, raw)
            if status is None or record.status is status:
                provider = kinds.get(record.message.account, "")
                rows.append(Row(int(line), record, columns, provider))
                if len(rows) >= limit:
                    return held(client, Page(rows, cursor))
    return held(client, Page(rows, cursor))


def held(client: redis.Redis, found: Page) -> Page:
    """The page with what holds its waiting messages back (sms.holds), read in one round trip
    for the few (account, sender) pairs a page's messages go through."""
    waiting = {row.record.pair for row in found.rows if row.record.status is Status.QUEUED}
    if not waiting:
        return found
    holds = holding(client, waiting)
    rows = [replace(row, record=row.record.held(holds)) for row in found.rows]
    return Page(rows, found.next)


def walk(
    client: redis.Redis,
    campaign: str,
    status: Status | None = None,
    kinds: Mapping[str, str] | None = None,
) -> Iterator[Row]:
    """Every message of the campaign in line order (in `status` when given), read a page at a
    time."""
    for rows in pages(client, campaign, status, kinds):
        yield from rows


def pages(
    client: redis.Redis,
    campaign: str,
    status: Status | None = None,
    kinds: Mapping[str, str] | None = None,
) -> Iterator[list[Row]]:
    """Every message of the campaign in line order (in `status` when given), a page at a
    time."""
    after = 0
    while True:
        found = page(client, campaign, after=after, limit=PAGE, status=status, kinds=kinds)
        if found.rows:
            yield found.rows
        if found.next is None:
            return
        after = found.next


#: An export's own columns, in order; the input row's columns come after `to`.
BEFORE = ("line", "to")
AFTER = (
    "status",
    "reason",
    "provider",
    "account",
    "provider_id",
    "attempts",
    "segments",
    "send_at",
    "created",
    "updated",
    "history",
    "id",
)


def header(columns: Sequence[str]) -> list[str]:
    """A CSV export's header: `line, to`, the input's own columns (one named like an export
    column is prefixed `input.`), then `AFTER`."""
    ours = set(BEFORE) | set(AFTER)
    own = [f"input.{name}" if name in ours else name for name in columns]
    return [*BEFORE, *own, *AFTER]


def export_line(row: Row) -> list[str]:
    """One row of a CSV export, as `header` names them; the history is every change as
    `time status reason`, separated by `; `."""
    data = row.as_dict()
    history = "; ".join(
        " ".join(part for part in (h["at"], h["status"], h["reason"]) if part)
        for h in data["history"]
    )
    values = {**data, "history": history}
    own = data["row"]
    cells = [values[c] for c in BEFORE]
    cells += [own.get(name) for name in row.columns]
    cells += [values[c] for c in AFTER]
    return ["" if v is None else str(v) for v in cells]


def reasons(client: redis.Redis, campaign: str) -> Counter[tuple[str, str]]:
    """How many of the campaign's messages are in each (status, reason), through the rows
    index a page at a time (only the two fields read)."""
    counts: Counter[tuple[str, str]] = Counter()
    after = 0
    while True:
        found = cast(
            list[tuple[str, float]],
            client.zrangebyscore(
                keys.campaign_rows(campaign), f"({after}", "+inf", 0, PAGE, withscores=True
            ),
        )
        if not found:
            return counts
        pipe = client.pipeline(transaction=False)
        for mid, _ in found:
            pipe.hmget(keys.message(mid), "status", "reason")
        for status, reason in pipe.execute():
            if status is not None:
                counts[(status, reason or "")] += 1
        after = int(found[-1][1])


def export_chunks(
    client: redis.Redis,
    campaign: str,
    *,
    fmt: str = "csv",
    status: Status | None = None,
    kinds: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, int]]:
    """The campaign's messages in row order as CSV (a header, then one line per message) or
    JSONL (each message's full view with its input row): a page's text and how many messages
    it holds at a time, so a campaign of any size exports in flat memory. The one export
    (`salvo export`, the dashboard's results.csv)."""
    out = io.StringIO()
    writer = csv.writer(out)
    if fmt == "csv":
        stored = cast(str | None, client.hget(keys.campaign(campaign), "columns"))
        writer.writerow(header(json.loads(stored) if stored else []))
    for rows in pages(client, campaign, status, kinds):
        for row in rows:
            if fmt == "csv":
                writer.writerow(export_line(row))
            else:
                out.write(json.dumps(row.as_dict(), ensure_ascii=False) + "\n")
        yield out.getvalue(), len(rows)
        out.seek(0)
        out.truncate()
    if out.tell():
        yield out.getvalue(), 0


def export(
    client: redis.Redis,
    campaign: str,
    out: IO[str],
    *,
    fmt: str = "csv",
    status: Status | None = None,
    kinds: Mapping[str, str] | None = None,
) -> int:
    """Write `export_chunks` to `out`; returns how many messages."""
    count = 0
    for text, n in export_chunks(client, campaign, fmt=fmt, status=status, kinds=kinds):
        out.write(text)
        count += n
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
