"""A campaign's messages one by one: counted by status and reason, and exported as CSV.

Both go through producer/results.py, which reads the campaign's rows index
(`salvo:camp:{id}:rows`) a page at a time: the CSV is `salvo export`'s, streamed a page at a
time from a thread. Records live `idempotency_retention` seconds after their message ends, so an
old campaign's export holds what is still kept.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from urllib.parse import quote

from aiohttp import web

from api.results import stream_rejects
from api.shared import PRODUCER
from producer import results
from producer.api import Producer
from sms import campaigns
from sms.errors import NotFound


async def reasons(producer: Producer, campaign_id: str) -> Counter[tuple[str, str]]:
    """How many of the campaign's messages are in each (status, reason)."""
    return await asyncio.to_thread(results.reasons, producer.redis, campaign_id)


async def rejects_file(request: web.Request) -> web.StreamResponse:
    """`rejects.csv`: every rejected row of the campaign, as `GET /v1/campaigns/{id}/rejects`."""
    answer = await stream_rejects(request, request.match_info["id"], "csv")
    if answer.status == 404:
        raise web.HTTPNotFound(text="no such campaign")
    return answer


async def export(request: web.Request) -> web.StreamResponse:
    """`results.csv`: the campaign's export (`salvo export`'s CSV), streamed as it is read."""
    cid = request.match_info["id"]
    producer = request.app[PRODUCER]
    try:
        await asyncio.to_thread(campaigns.read, producer.redis, cid)
    except NotFound as exc:
        raise web.HTTPNotFound(text=str(exc)) from None
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(cid)}-results.csv",
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    chunks = results.export_chunks(producer.redis, cid, kinds=results.providers(producer.settings))
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        await response.write(chunk[0].encode())
    await response.write_eof()
    return response
