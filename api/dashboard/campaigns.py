"""Campaign pages: the list with each campaign's progress, rate and time left; one campaign's
counts, and its pause, resume and cancel buttons (producer/controls.py, as `salvo pause`)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, replace
from typing import Any, cast
from urllib.parse import quote, urlencode

from aiohttp import web

from api.dashboard import results
from api.dashboard.history import RECENT
from api.dashboard.render import page
from api.shared import PRODUCER, REDIS
from sms import campaigns, keys
from sms.errors import Conflict, NotFound
from sms.holds import aholding
from sms.message import Status

LISTED = 50  # newest campaigns on the list
RATE_WINDOW = 20.0  # seconds over which the current rate is measured
WAITING = ("queued", "sending")
#: The progress bar's parts, in order: (name, statuses counted in it). Every status is in one,
#: and the ends are named as `salvo status --watch` names them (salvo/watch.py).
PARTS = (
    ("delivered", ("delivered",)),
    ("sent", ("sent",)),
    ("failed", ("failed", "undelivered")),
    ("expired", ("expired",)),
    ("cancelled", ("cancelled",)),
    ("suppressed", ("suppressed",)),
    ("unknown", ("unknown",)),
    ("waiting", WAITING),
)
#: The campaign page's counts by status: every status there is.
STATUSES = tuple(status.value for status in Status)


@dataclass(frozen=True, slots=True)
class Part:
    """One part of a progress bar: how many, and where it starts and ends (0 to 1000)."""

    name: str
    count: int
    start: float
    width: float


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign as the pages show it."""

    id: str
    state: str
    account: str
    template: str
    source: str
    created: float
    rejected: int
    suppressed: int  # rows to numbers that opted out, never enqueued
    total: int
    counts: dict[str, int]
    rate: float | None  # messages finished per second lately
    rejects: list[tuple[int, str]]  # the first rejected rows: line and reason
    times: dict[str, float]  # state -> when it was last entered
    ingest: dict[str, Any] | None = None  # the reading of its file (sms.campaigns)
    pair: tuple[str, str] = ("", "")  # its (account, sender), what a hold may pause
    held: str | None = None  # the hold its waiting messages wait for (sms.holds), in words

    @property
    def waiting(self) -> int:
        """Messages not sent yet."""
        return sum(self.counts.get(s, 0) for s in WAITING)

    @property
    def done(self) -> int:
        """Messages that left the queue, whatever their end."""
        return max(0, self.total - self.waiting)

    @property
    def parts(self) -> list[Part]:
        """The progress bar, its parts in proportion to the total."""
        out, start = [], 0.0
        for name, statuses in PARTS:
            count = sum(self.counts.get(s, 0) for s in statuses)
            width = 1000.0 * count / self.total if self.total else 0.0
            out.append(Part(name, count, start, width))
            start += width
        return out

    @property
    def left(self) -> float | None:
        """Seconds until the waiting messages are sent at the current rate."""
        if not self.waiting:
            return 0.0
        if self.state != "running" or not self.rate:
            return None
        return self.waiting / self.rate


def campaign_from(
    cid: str, meta: dict[str, str], raw: dict[str, str], rate: float | None
) -> Campaign:
    """A Campaign from its hash and its counts' hash (read as sms/campaigns.py reads them)."""
    record = campaigns.Campaign.from_hashes(cid, meta, raw)
    counts = {k: v for k, v in record.counts.items() if k != "total"}
    return Campaign(
        id=cid,
        state=record.state.value,
        account=record.account,
        template=record.template,
        source=record.source,
        created=record.created,
        rejected=record.rejected,
        suppressed=record.suppressed,
        total=record.counts.get("total") or sum(counts.values()),
        counts=counts,
        rate=rate,
        rejects=rejected_rows(meta.get("rejects")),
        times=record.changed,
        ingest=record.ingest,
        pair=record.pair,
    )


def rejected_rows(stored: str | None) -> list[tuple[int, str]]:
    """The rejected rows a blast kept in the campaign's hash (line, reason), if any."""
    try:
        rows = json.loads(stored or "[]")
        return [(int(line), str(reason)) for line, reason in rows]
    except (ValueError, TypeError):
        return []


async def read(request: web.Request, ids: list[str]) -> list[Campaign]:
    """The campaigns named, in order, each with its counts and current rate (missing ones left
    out)."""
    pipe = request.app[REDIS].pipeline(transaction=False)
    for cid in ids:
        pipe.hgetall(keys.campaign(cid))
        pipe.hgetall(keys.campaign_counts(cid))
    answers = await pipe.execute()
    recent = request.app[RECENT]
    out = []
    for i, cid in enumerate(ids):
        meta, raw = answers[2 * i], answers[2 * i + 1]
        if not meta:
            continue
        change = recent.campaign(cid).change(RATE_WINDOW)
        campaign = campaign_from(cid, meta, raw, change.per_second("done"))
        if campaign.rate is None:  # not yet two readings: the average since it started
            campaign = replace(campaign, rate=since_start(campaign))
        out.append(campaign)
    return out


def since_start(campaign: Campaign) -> float | None:
    """Messages done per second since the campaign started; None once it has been paused
    (what it did before the pause would count), or too early to tell."""
    elapsed = time.time() - campaign.created
    if "paused" in campaign.times or not campaign.created or elapsed < 1.0 or not campaign.done:
        return None
    return campaign.done / elapsed


async def campaign_list(request: web.Request) -> web.Response:
    """Every campaign, newest first, with its progress."""
    ids = cast(list[str], await request.app[REDIS].zrevrange(keys.CAMPAIGNS, 0, LISTED - 1))
    campaigns = await read(request, ids)
    live = any(c.state == "running" and c.waiting for c in campaigns)
    return page(request, "campaigns.html", campaigns=campaigns, live=live, title="Campaigns")


async def campaign_page(request: web.Request, note: str = "", status: int = 200) -> web.Response:
    """One campaign: its counts by status, what it was made from, and its controls."""
    cid = request.match_info["id"]
    found = await read(request, [cid])
    if not found:
        return page(
            request, "missing.html", status=404, title="No such campaign", what=f"campaign {cid}"
        )
    campaign = found[0]
    if campaign.counts.get(Status.QUEUED.value) and campaign.account:
        hold = (await aholding(request.app[REDIS], [campaign.pair]))[campaign.pair]
        campaign = replace(campaign, held=hold.text() if hold else None)
    counted = "reasons" in request.query
    by_reason = (
        sorted((await results.reasons(request.app[PRODUCER], cid)).items()) if counted else []
    )
    return page(
        request,
        "campaign.html",
        c=campaign,
        statuses=STATUSES,
        note=note or request.query.get("done", ""),
        counted=counted,
        by_reason=by_reason,
        live=campaign.state == "running" and campaign.waiting > 0 and not counted,
        title=f"Campaign {cid}",
        status=status,
    )


async def control(request: web.Request) -> web.Response:
    """Pause, resume or cancel a campaign, then show it again (303) with what was done."""
    cid, action = request.match_info["id"], request.match_info["action"]
    producer = request.app[PRODUCER]
    act = {"pause": producer.pause, "resume": producer.resume, "cancel": producer.cancel}[action]
    try:
        result = await asyncio.to_thread(act, cid)
    except NotFound:
        return page(
            request, "missing.html", status=404, title="No such campaign", what=f"campaign {cid}"
        )
    except Conflict as exc:
        return await campaign_page(request, note=str(exc), status=409)
    done = urlencode({"done": f"{result.previous} -> {result.state}"})
    raise web.HTTPSeeOther(f"/campaigns/{quote(cid, safe='')}?{done}")
