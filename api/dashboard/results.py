"""A campaign's messages one by one: counted by status and reason, and exported as CSV.

Redis keeps no list of a campaign's messages; each row of a campaign holds the idempotency key
`{campaign}:{key column's value}` (producer/campaign.py), so they are found by scanning the
keyspace for those keys (SCAN with MATCH: the server filters, one pass over the keyspace, done
only when asked) and reading each record. Records and keys live `idempotency_retention`
seconds after their message ends, so an old campaign's export holds what is still kept.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import cast
from urllib.parse import quote

import redis.asyncio as aredis
from aiohttp import web

from api.dashboard.render import moment
from api.shared import REDIS
from sms import keys
from sms.message import Message

SCAN = 1000  # keys per SCAN call
FIELDS = ("status", "reason", "attempts", "provider_id", "created", "updated", "data", "campaign")
COLUMNS = ("id", "to", "status", "reason", "attempts", "provider_id", "created", "updated")


def pattern(campaign_id: str) -> str:
    """The SCAN pattern of the campaign's idempotency keys (glob characters escaped)."""
    return keys.idempotency(re.sub(r"([\\*?\[\]])", r"\\\1", campaign_id) + ":*")


async def records(
    client: aredis.Redis, campaign_id: str
) -> AsyncIterator[list[tuple[str, dict[str, str | None]]]]:
    """The campaign's messages, a chunk at a time: (id, record fields) for each."""
    cursor = 0
    while True:
        cursor, found = cast(
            tuple[int, list[str]],
            await client.scan(cursor, match=pattern(campaign_id), count=SCAN),
        )
        if found:
            # A key holds "<id> <fingerprint of the message>" (sms/lua/enqueue.lua).
            held = cast(list[str | None], await client.mget(found))
            ids = [value.split(" ", 1)[0] for value in held if value]
            pipe = client.pipeline(transaction=False)
            for mid in ids:
                pipe.hmget(keys.message(mid), *FIELDS)
            chunk = []
            for mid, values in zip(ids, await pipe.execute(), strict=True):
                fields = dict(zip(FIELDS, values, strict=True))
                if fields["status"] is not None and fields["campaign"] == campaign_id:
                    chunk.append((mid, fields))
            if chunk:
                yield chunk
        if cursor == 0:
            return


async def reasons(client: aredis.Redis, campaign_id: str) -> Counter[tuple[str, str]]:
    """How many of the campaign's messages are in each (status, reason)."""
    counts: Counter[tuple[str, str]] = Counter()
    async for chunk in records(client, campaign_id):
        for _, fields in chunk:
            counts[(fields["status"] or "", fields["reason"] or "")] += 1
    return counts


def row(mid: str, fields: dict[str, str | None]) -> list[str]:
    """One message as a line of the export."""
    to = Message.from_record(fields["data"]).to if fields["data"] else ""
    return [
        mid,
        to,
        fields["status"] or "",
        fields["reason"] or "",
        fields["attempts"] or "0",
        fields["provider_id"] or "",
        moment(float(fields["created"] or 0)),
        moment(float(fields["updated"] or 0)),
    ]


async def export(request: web.Request) -> web.StreamResponse:
    """`results.csv`: every message of the campaign still kept, streamed as it is read."""
    cid = request.match_info["id"]
    client = request.app[REDIS]
    if not await client.exists(keys.campaign(cid)):
        raise web.HTTPNotFound(text=f"no campaign with id {cid!r}")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(cid)}-results.csv",
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    async for chunk in records(client, cid):
        for mid, fields in chunk:
            writer.writerow(row(mid, fields))
        await response.write(out.getvalue().encode())
        out.seek(0)
        out.truncate()
    await response.write(out.getvalue().encode())
    await response.write_eof()
    return response
