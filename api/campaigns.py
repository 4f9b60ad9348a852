"""`POST /v1/campaigns` (a CSV or JSONL upload), `GET /v1/campaigns/{id}`, and
`POST /v1/campaigns/{id}/pause`, `/resume` and `/cancel` (producer/controls.py).

The upload is streamed to a temporary file chunk by chunk, never held whole in memory, and
refused with 413 past `api_max_upload`; then `producer.campaign.blast` streams that file row by
row. The parameters come in the query string. Without a campaign id, the id is
`sms.campaigns.default_id` of the account, sender, template, key column and the file's content,
as for `salvo blast`, so the same file sent again through either door sends nothing twice.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from aiohttp import web
from multidict import MultiDict
from pydantic import TypeAdapter, ValidationError

from api import models
from api.ingest import INGESTS, Job
from api.shared import PRODUCER, REDIS, SETTINGS, error, invalid, problem, unknown_parameters
from api.uploads import (
    JSONL_TYPES,
    MULTIPART,
    BadField,
    Refused,
    Upload,
    check_type,
    open_upload,
)
from producer.campaign import (
    PHONE,
    BlastReport,
    BlastSpec,
    Format,
    blast,
    campaign_id_for,
    check_file,
)
from producer.lifecycle import time_problems
from producer.preflight import Report, Tally, estimate, figures, flag, preflight
from producer.template import Template
from sms import callbacks, campaigns, keys, validation
from sms.errors import Conflict, InvalidInput, NotFound, TemplateError
from sms.message import Lane, Sender
from sms.text import text_problem

CHUNK = 1 << 16
#: The rejected rows (line and reason) an answer lists; the count covers them all.
REJECTS_SHOWN = 100

_SENDER: TypeAdapter[str] = TypeAdapter(Sender)
_TIME: TypeAdapter[datetime] = TypeAdapter(datetime)
#: The query parameters an upload takes; any other is refused, as an unknown field of a message.
PARAMETERS = frozenset(
    {
        "account",
        "from",
        "template",
        "format",
        "campaign",
        "key_column",
        "phone_column",
        "lane",
        "send_at",
        "expires_at",
        "callback_url",
        "wait",
        "dry_run",
        "smart_encoding",
    }
)


def file_problem(exc: InvalidInput | TemplateError, path: Path) -> dict[str, Any]:
    """A file the blast cannot read (its header, the template's columns) as a 422 entry, in
    the words of this door: the file is `upload`, its options are query parameters."""
    reason = str(exc).replace(str(path), "upload").replace("--phone-column", "phone_column")
    return problem("template" if isinstance(exc, TemplateError) else "file", reason)


def with_fields(
    query: Mapping[str, str], fields: Iterable[tuple[str, str]]
) -> tuple[MultiDict[str], list[dict[str, Any]]]:
    """The query string's parameters and a multipart upload's form fields together, and a
    problem for each parameter given twice (which one to take would be a guess)."""
    merged: MultiDict[str] = MultiDict(query)
    problems = []
    for name, value in fields:
        if name in merged:
            problems.append(problem(name, "given twice (query string and form fields)"))
        else:
            merged[name] = value
    return merged, problems


def read_spec(
    request: web.Request, q: Mapping[str, str] | None = None
) -> tuple[BlastSpec | None, Format, list[dict[str, Any]]]:
    """The blast's parameters (`q`: the query string's, by default), and every problem with
    them."""
    q = request.query if q is None else q
    settings = request.app[SETTINGS]
    problems: list[dict[str, Any]] = []
    for name in ("account", "from", "template"):
        if not q.get(name):
            problems.append(problem(name, validation.MISSING))
    problems += unknown_parameters(q, PARAMETERS)
    for name, value in q.items():
        if bad := text_problem(value):
            problems.append(problem(name, bad))
    account, sender, text = q.get("account", ""), q.get("from", ""), q.get("template", "")
    if account and (why := settings.unknown_account(account)) is not None:
        problems.append(problem("account", why))
    if sender:
        try:
            sender = _SENDER.validate_python(sender)
        except ValidationError as exc:
            problems += [problem(p.field, p.problem) for p in validation.problems(exc, root="from")]
    if text:
        try:
            Template(text)
        except TemplateError as exc:
            problems.append(problem("template", str(exc)))
    fmt = q.get("format") or ("jsonl" if request.content_type in JSONL_TYPES else "csv")
    if fmt not in ("csv", "jsonl"):
        problems.append(problem("format", validation.one_of(fmt, ("csv", "jsonl"))))
    campaign = q.get("campaign") or None
    if campaign is not None and not campaigns.is_valid_id(campaign):
        problems.append(problem("campaign", f"must be {campaigns.ID_RULE}"))
    lane = q.get("lane", Lane.BULK.value)
    if lane not in {x.value for x in Lane}:
        problems.append(problem("lane", validation.one_of(lane, [x.value for x in Lane])))
    times: dict[str, datetime | None] = {}
    for name in ("send_at", "expires_at"):
        times[name] = None
        if q.get(name):
            try:
                times[name] = _TIME.validate_python(q[name])
            except ValidationError as exc:
                found = validation.problems(exc, root=name)
                problems += [problem(p.field, p.problem) for p in found]
    if not any(p["field"] in times for p in problems):
        timing = time_problems(times["send_at"], times["expires_at"])
        problems += [problem(p.field, p.problem) for p in timing]
    callback_url = q.get("callback_url") or None
    if callback_url is not None:
        if bad := callbacks.url_problem(callback_url):
            problems.append(problem("callback_url", bad))
        elif account and callbacks.secret_for(settings, account) is None:
            reason = f"no status_webhook_secret set for account {account!r} or the deployment"
            problems.append(problem("callback_url", reason + ": callbacks are signed"))
    if problems:
        return None, "csv", problems
    spec = BlastSpec(
        account=account,
        sender=sender,
        template=text,
        campaign=campaign,
        key_column=q.get("key_column") or PHONE,
        phone_column=q.get("phone_column") or None,
        lane=Lane(lane),
        send_at=times["send_at"],
        expires_at=times["expires_at"],
        callback_url=callback_url,
    )
    return spec, cast(Format, fmt), []


class TooLarge(Exception):
    """The upload is over `api_max_upload`."""


class Stalled(Exception):
    """No byte of the upload arrived for `api_body_timeout` seconds."""


async def receive(
    request: web.Request,
    path: Path,
    limit: int,
    stall: float,
    read: Callable[[int], Awaitable[bytes]] | None = None,
) -> str:
    """Stream the body (or `read`, a multipart part's chunks) into `path`, at most `limit`
    bytes (else TooLarge), each chunk within `stall` seconds of the last (else Stalled); its
    SHA-256 in hex."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge
    read = read or request.content.read
    digest = hashlib.sha256()
    size = 0
    with path.open("wb") as fh:
        while True:
            try:
                async with asyncio.timeout(stall):
                    chunk = await read(CHUNK)
            except TimeoutError:
                raise Stalled from None
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise TooLarge
            digest.update(chunk)
            fh.write(chunk)
    return digest.hexdigest()


def first_rejects(path: Path, fmt: Format = "csv") -> list[dict[str, Any]]:
    """The first rejected rows of a rejects file (CSV, or JSONL for a JSONL input), as line
    and reason."""
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    with path.open(newline="", encoding="utf-8") as fh:
        if fmt == "jsonl":
            for text in fh:
                if len(out) >= REJECTS_SHOWN:
                    break
                entry = json.loads(text)
                out.append({"line": int(entry["line"]), "reason": entry["reason"]})
            return out
        rows = csv.reader(fh)
        next(rows, None)
        for row in rows:
            if len(out) >= REJECTS_SHOWN:
                break
            out.append({"line": int(row[0]), "reason": row[1]})
    return out


async def post_campaign(request: web.Request) -> web.Response:
    """Stream the upload and store it; 202 with the campaign id, its ingest read in the
    background (api/ingest.py). With wait=true (or dry_run=true), read it first: 202 with the
    counts (200 with the preflight's)."""
    upload: Upload | None = None
    params: Mapping[str, str] = request.query
    twice: list[dict[str, Any]] = []
    if request.content_type == MULTIPART:  # its form fields are parameters too
        try:
            upload = await open_upload(request)
        except Refused as exc:
            return error(415, str(exc))
        except BadField as exc:
            return invalid([problem(exc.name, exc.reason)])
        params, twice = with_fields(request.query, upload.fields)
    spec, fmt, problems = read_spec(request, params)
    problems = twice + problems
    try:
        dry_run = flag(params.get("dry_run"), "dry_run")
        smart = flag(params.get("smart_encoding"), "smart_encoding")
        wait = flag(params.get("wait"), "wait")
    except ValueError as exc:
        name, _, reason = str(exc).partition(": ")
        return invalid([*problems, problem(name, reason)])
    if spec is None or problems:
        return invalid(problems)
    if upload is None:
        try:
            check_type(request)
            upload = await open_upload(request)
        except Refused as exc:
            return error(415, str(exc))
    fmt = cast(Format, params.get("format") or upload.format)
    spec = replace(spec, smart_encoding=smart)
    if not dry_run and not wait:
        return await ingest_later(request, spec, fmt, upload.read)
    tmp = Path(tempfile.mkdtemp(prefix="salvo-upload-"))
    try:
        path = tmp / f"upload.{fmt}"
        settings = request.app[SETTINGS]
        limit, stall = settings.api_max_upload, settings.api_body_timeout
        try:
            content = await receive(request, path, limit, stall, upload.read)
        except TooLarge:
            return error(413, f"upload larger than {limit:,} bytes")
        except Stalled:
            return error(408, f"upload stalled: no data for {stall:g} s")
        spec = replace(spec, source=f"upload sha256:{content}")
        rejects = tmp / "rejects.csv"
        producer = request.app[PRODUCER]
        try:
            if dry_run:
                checked = await asyncio.to_thread(
                    preflight, producer, path, spec, rejects_path=rejects, fmt=fmt
                )
                shown = await asyncio.to_thread(first_rejects, rejects, fmt)
                found = {**checked.as_dict(), "dry_run": True, "rejects": shown}
                del found["rejects_path"]
                return web.json_response(found)
            tally = Tally(producer, spec, lookups=False)
            report: BlastReport = await asyncio.to_thread(
                blast,
                producer,
                path,
                spec,
                rejects_path=rejects,
                fmt=fmt,
                sink=tally,
                content=content,
            )
        except (InvalidInput, TemplateError) as exc:
            return invalid([file_problem(exc, path)])
        except Conflict as exc:  # a cancelled campaign
            return error(409, str(exc))
        shown = await asyncio.to_thread(first_rejects, rejects, fmt)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    answer: dict[str, Any] = {
        "campaign": report.campaign,
        "rows": report.rows,
        "enqueued": report.enqueued,
        "duplicates": report.duplicates,
        "rejected": report.rejected,
        "suppressed": report.suppressed,
        "reasons": report.reasons,
        "rejects": shown,
        "preflight": figures(tally.finish(Report(report.campaign))),
    }
    if report.stopped is not None:
        # Counted up to the line it stopped at; uploading the same file again is safe.
        answer["stopped"] = {"line": report.stopped_at, "reason": report.stopped}
        answer["error"] = f"blast stopped: {report.stopped}; upload the same file again to finish"
        return web.json_response(answer, status=503, headers={"Retry-After": "5"})
    return web.json_response(answer, status=202)


async def ingest_later(
    request: web.Request, spec: BlastSpec, fmt: Format, read: Callable[[int], Awaitable[bytes]]
) -> web.Response:
    """Store the upload in the spool and answer 202 at once; a thread reads it (api/ingest.py).
    What would stop the blast before its first row (the header, the template) is a 422 now."""
    settings, producer = request.app[SETTINGS], request.app[PRODUCER]
    ingests = request.app[INGESTS]
    path = ingests.spool / f".upload-{secrets.token_hex(8)}.{fmt}"
    try:
        limit, stall = settings.api_max_upload, settings.api_body_timeout
        try:
            content = await receive(request, path, limit, stall, read)
        except TooLarge:
            return error(413, f"upload larger than {limit:,} bytes")
        except Stalled:
            return error(408, f"upload stalled: no data for {stall:g} s")
        spec = replace(spec, source=f"upload sha256:{content}")
        try:
            await asyncio.to_thread(check_file, producer, path, spec, fmt)
        except (InvalidInput, TemplateError) as exc:
            return invalid([file_problem(exc, path)])
        cid = campaign_id_for(path, spec, content)
        try:
            await asyncio.to_thread(campaigns.refuse_cancelled, producer.redis, cid)
        except Conflict as exc:
            return error(409, str(exc))
        where = f"/v1/campaigns/{cid}"
        elsewhere = await request.app[REDIS].exists(keys.campaign_ingest_lease(cid))
        held = ingests.reserve(cid, content)
        if held is not None or elsewhere:
            if held == content:  # the same file again while it is read: the same answer
                return await ingest_answer(request, cid)
            if held is None:
                ingests.release(cid)
            return error(
                409,
                f"campaign {cid!r} is being read from another upload: send this one when that "
                f"ingest is done (GET {where})",
            )
        job = Job(cid, ingests.spool / f"{cid}.{fmt}", fmt, content, replace(spec, campaign=cid))
        try:
            found = await asyncio.to_thread(
                estimate, producer, path, spec, fmt=fmt, content=content
            )
            await asyncio.to_thread(ingests.store, job, path)
        except BaseException:
            ingests.release(cid)
            raise
        figures_now = {
            **found.report.as_dict(),
            "exact": found.exact,
            "sampled": found.sampled,
        }
        for name in ("rejects_path", "valid", "reasons"):  # of the sample, not the upload
            figures_now.pop(name, None)
        return await ingest_answer(request, cid, figures_now)
    finally:
        path.unlink(missing_ok=True)


async def ingest_answer(
    request: web.Request, cid: str, estimated: dict[str, Any] | None = None
) -> web.Response:
    """202: the campaign's id, where to follow it, its ingest so far, and (for a new upload)
    the preflight's figures estimated before sending, as `salvo blast` prints them first."""
    campaign = await campaigns.read_async(request.app[REDIS], cid)
    where = f"/v1/campaigns/{cid}"
    answer = models.Upload.model_validate(
        {"campaign": cid, "status": where, "ingest": campaign.ingest, "estimate": estimated}
    )
    return web.json_response(answer.json_body(), status=202, headers={"Location": where})


async def get_campaign(request: web.Request) -> web.Response:
    """A campaign's metadata and its messages' counts by status."""
    try:
        campaign = await campaigns.read_async(request.app[REDIS], request.match_info["id"])
    except NotFound as exc:
        return error(404, str(exc))
    return web.json_response(models.Campaign.model_validate(campaign.as_dict()).json_body())


async def control_campaign(request: web.Request) -> web.Response:
    """Pause, resume or cancel a campaign: its state before and after, and what was published
    again (set-aside messages) or brought forward (scheduled ones, on cancel)."""
    cid, action = request.match_info["id"], request.match_info["action"]
    producer = request.app[PRODUCER]
    control = {"pause": producer.pause, "resume": producer.resume, "cancel": producer.cancel}
    try:
        # Blocking Redis calls, and a resume or cancel publishes every message set aside.
        result = await asyncio.to_thread(control[action], cid)
    except NotFound as exc:
        return error(404, str(exc))
    except Conflict as exc:
        return error(409, str(exc))
    answer = models.Control(
        campaign=result.campaign,
        previous=result.previous,
        state=result.state,
        republished=result.republished,
        brought_forward=result.brought_forward,
    )
    return web.json_response(answer.json_body())


def add_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_post("/v1/campaigns", post_campaign)
    app.router.add_get("/v1/campaigns/{id}", get_campaign)
    app.router.add_post("/v1/campaigns/{id}/{action:pause|resume|cancel}", control_campaign)
