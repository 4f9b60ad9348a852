"""`GET /v1/campaigns/{id}/messages?status=&cursor=&limit=`: a campaign's messages in the order
of its input rows, cursor-paginated (producer/results.py reads them through the rows index)."""

from __future__ import annotations

import asyncio
import re
from typing import cast
from urllib.parse import quote

from aiohttp import web

from api import models
from api.shared import PRODUCER, error, invalid, problem, unknown_parameters, whole_number
from producer import rejects, results
from sms import campaigns, validation
from sms.errors import NotFound
from sms.message import Status

#: A campaign list cursor: the creation time (epoch seconds) of the last campaign shown.
CURSOR = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")


async def messages_by_campaign(request: web.Request) -> web.Response:
    """`GET /v1/messages?campaign=`: the same pages as `/v1/campaigns/{id}/messages`."""
    cid = request.query.get("campaign")
    if not cid:
        return invalid([problem("campaign", "required: the campaign whose messages to list")])
    return await campaign_messages(request, cid)


async def campaign_messages(request: web.Request, cid: str | None = None) -> web.Response:
    """One page of the campaign's messages, each with its input line, and the next cursor."""
    cid = cid or request.match_info["id"]
    query = request.query
    own = ("status", "cursor", "limit", *(("campaign",) if "id" not in request.match_info else ()))
    problems = unknown_parameters(query, own)
    status: Status | None = None
    if "status" in query:
        try:
            status = Status(query["status"])
        except ValueError:
            known = [s.value for s in Status]
            problems.append(problem("status", validation.one_of(query["status"], known)))
    after, bad_cursor = whole_number(query, "cursor", 0, 0, 10**12)
    limit, bad_limit = whole_number(query, "limit", 100, 1, results.MAX_LIMIT)
    problems += bad_cursor + bad_limit
    if problems:
        return invalid(problems)
    producer = request.app[PRODUCER]
    try:
        await asyncio.to_thread(campaigns.read, producer.redis, cid)
    except NotFound as exc:
        return error(404, str(exc))
    found = await asyncio.to_thread(
        results.page,
        producer.redis,
        cid,
        after=after,
        limit=limit,
        status=status,
        kinds=results.providers(producer.settings),
    )
    answer = models.MessagePage(
        messages=[models.CampaignMessage.model_validate(row.as_dict()) for row in found.rows],
        next=None if found.next is None else str(found.next),
    )
    return web.json_response(answer.json_body())


async def list_campaigns(request: web.Request) -> web.Response:
    """Campaigns, newest first, a page at a time."""
    query = request.query
    problems = unknown_parameters(query, ("cursor", "limit"))
    before = "+inf"
    if "cursor" in query:
        # A creation time from an earlier page, as `next` writes it: digits and a fraction.
        # Not whatever float() reads (' 5', '1_000', 'inf'), which Redis would refuse.
        if CURSOR.fullmatch(query["cursor"]):
            before = query["cursor"]
        else:
            problems.append(problem("cursor", "the `next` of the page before"))
    limit, bad_limit = whole_number(query, "limit", 50, 1, results.MAX_LIMIT)
    problems += bad_limit
    if problems:
        return invalid(problems)
    producer = request.app[PRODUCER]
    found = await asyncio.to_thread(
        results.campaigns_page, producer.redis, before=before, limit=limit
    )
    answer = models.CampaignList(
        campaigns=[models.Campaign.model_validate(c.as_dict()) for c in found.campaigns],
        next=found.next,
    )
    return web.json_response(answer.json_body())


async def campaign_rejects(request: web.Request) -> web.StreamResponse:
    """`GET /v1/campaigns/{id}/rejects?format=csv|jsonl`: every rejected row of the campaign
    (producer/rejects.py), streamed a page at a time."""
    cid = request.match_info["id"]
    fmt = request.query.get("format", "csv")
    problems = unknown_parameters(request.query, ("format",))
    if fmt not in ("csv", "jsonl"):
        problems.append(problem("format", validation.one_of(fmt, ("csv", "jsonl"))))
    if problems:
        return invalid(problems)
    return await stream_rejects(request, cid, cast(rejects.Format, fmt))


async def stream_rejects(request: web.Request, cid: str, fmt: rejects.Format) -> web.StreamResponse:
    """A campaign's rejects file as the answer (404 for no campaign)."""
    producer = request.app[PRODUCER]
    chunks = rejects.chunks(producer.redis, cid, fmt)
    try:
        first = await asyncio.to_thread(next, chunks, None)
    except NotFound as exc:
        return error(404, str(exc))
    kind = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson; charset=utf-8"
    response = web.StreamResponse(
        headers={
            "Content-Type": kind,
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(cid)}.rejects.{fmt}",
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    chunk = first
    while chunk is not None:
        await response.write(chunk.encode())
        chunk = await asyncio.to_thread(next, chunks, None)
    await response.write_eof()
    return response


def add_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_get("/v1/campaigns", list_campaigns)
    app.router.add_get("/v1/messages", messages_by_campaign)
    app.router.add_get("/v1/campaigns/{id}/messages", campaign_messages)
    app.router.add_get("/v1/campaigns/{id}/rejects", campaign_rejects)
