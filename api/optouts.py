"""The suppression list over HTTP: `/v1/optouts` (list, add), `/v1/optouts/{phone}` (check,
remove), `/v1/optouts/import` (a CSV upload) and `/v1/optouts/export` (CSV).

Each takes the account in `account` (query string, or the JSON body when adding); with
`optout_scope = "global"` it may be left out. Numbers are E.164 or written with the
`default_region`; a bad one is a 422 naming it, and nothing is changed.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from api.campaigns import Stalled, TooLarge, receive
from api.shared import (
    PRODUCER,
    SETTINGS,
    error,
    invalid,
    problem,
    read_json,
    unknown_parameters,
    whole_number,
)
from sms.errors import InvalidInput
from sms.optout import normalise
from sms.settings import Settings

#: The most entries one `GET /v1/optouts` lists (the export has them all).
MAX_LIMIT = 10_000


#: The fields of `POST /v1/optouts`; any other is refused.
ADD_FIELDS = frozenset({"account", "phones", "phone", "note"})


def _account(settings: Settings, value: object) -> tuple[str, list[dict[str, Any]]]:
    """The account a request names, or the problem with it."""
    if value is None or value == "":
        if settings.optout_scope == "global":
            return "", []
        return "", [problem("account", "required (opt-outs are kept per account)")]
    if (why := settings.unknown_account(value)) is not None:
        return "", [problem("account", why)]
    return str(value), []


def _query_account(request: web.Request, *others: str) -> tuple[str, list[dict[str, Any]]]:
    """The account the query names (`_account`), and a problem for each parameter that is
    neither `account` nor one of `others`."""
    account, problems = _account(request.app[SETTINGS], request.query.get("account"))
    return account, unknown_parameters(request.query, ("account", *others)) + problems


async def list_optouts(request: web.Request) -> web.Response:
    """The account's opt-outs (at most `limit`, default 1000) and how many there are."""
    settings = request.app[SETTINGS]
    account, problems = _query_account(request, "limit")
    limit, bad_limit = whole_number(request.query, "limit", 1000, 1, MAX_LIMIT)
    problems += bad_limit
    if problems:
        return invalid(problems)
    optouts = request.app[PRODUCER].optouts

    def read() -> tuple[int, list[dict[str, Any]]]:
        rows: list[dict[str, Any]] = []
        for entry in optouts.entries(account):
            if len(rows) >= limit:
                break
            rows.append(entry.as_dict())
        return optouts.count(account), rows

    count, rows = await asyncio.to_thread(read)
    scope = settings.optout_scope
    return web.json_response({"account": account, "scope": scope, "count": count, "optouts": rows})


async def add_optouts(request: web.Request) -> web.Response:
    """Add `phones` (or one `phone`) with an optional `note`: which were added, which already
    were on the list."""
    settings = request.app[SETTINGS]
    data = await read_json(request)
    if not isinstance(data, dict):
        return invalid([problem("body", "expected {account, phones, note}")])
    account, problems = _account(settings, data.get("account"))
    problems += [problem(f, "not a known field") for f in sorted(set(data) - ADD_FIELDS)]
    phones = data.get("phones", [data["phone"]] if "phone" in data else None)
    note = data.get("note", "")
    if not isinstance(phones, list) or not phones:
        problems.append(problem("phones", "expected a non-empty list of phone numbers"))
        phones = []
    if not isinstance(note, str):
        problems.append(problem("note", "expected text"))
        note = ""
    numbers: list[str] = []
    for index, phone in enumerate(phones):
        try:
            numbers.append(normalise(str(phone), settings.default_region))
        except InvalidInput as exc:
            problems.append(problem("phones", str(exc), index))
    if problems:
        return invalid(problems)
    optouts = request.app[PRODUCER].optouts

    def add() -> tuple[list[str], list[str]]:
        added: list[str] = []
        already: list[str] = []
        for number in numbers:
            (added if optouts.add(account, number, note=note[:200]) else already).append(number)
        return added, already

    added, already = await asyncio.to_thread(add)
    return web.json_response({"added": added, "already": already})


async def check_optout(request: web.Request) -> web.Response:
    """One number's opt-out, or 404 when it has none."""
    account, problems = _query_account(request)
    phone = _phone(request, problems)
    if problems:
        return invalid(problems)
    entry = await asyncio.to_thread(request.app[PRODUCER].optouts.get, account, phone)
    if entry is None:
        return error(404, f"{phone} has not opted out")
    return web.json_response(entry.as_dict())


async def remove_optout(request: web.Request) -> web.Response:
    """Take a number off the list (opt it back in): whether it was on it."""
    account, problems = _query_account(request)
    phone = _phone(request, problems)
    if problems:
        return invalid(problems)
    removed = await asyncio.to_thread(request.app[PRODUCER].optouts.remove, account, phone)
    return web.json_response({"phone": phone, "removed": removed})


def _phone(request: web.Request, problems: list[dict[str, Any]]) -> str:
    try:
        return normalise(request.match_info["phone"], request.app[SETTINGS].default_region)
    except InvalidInput as exc:
        problems.append(problem("phone", str(exc)))
        return ""


async def import_optouts(request: web.Request) -> web.Response:
    """Add every number of an uploaded CSV (a `phone` column, or one number per line); the
    lines that are not numbers are listed, the rest added."""
    settings = request.app[SETTINGS]
    account, problems = _query_account(request)
    if problems:
        return invalid(problems)
    tmp = Path(tempfile.mkdtemp(prefix="salvo-optouts-"))
    try:
        path = tmp / "optouts.csv"
        stall = settings.api_body_timeout
        try:
            await receive(request, path, settings.api_max_upload, stall)
        except TooLarge:
            return error(413, f"upload larger than {settings.api_max_upload:,} bytes")
        except Stalled:
            return error(408, f"upload stalled: no data for {stall:g} s")
        optouts = request.app[PRODUCER].optouts

        def load() -> Any:
            with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
                return optouts.import_csv(account, fh, region=settings.default_region)

        report = await asyncio.to_thread(load)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    invalid_lines = [{"line": line, "reason": reason} for line, reason in report.invalid[:100]]
    return web.json_response(
        {
            "added": report.added,
            "already": report.already,
            "invalid": len(report.invalid),
            "invalid_lines": invalid_lines,
        }
    )


async def export_optouts(request: web.Request) -> web.Response:
    """The account's whole list as CSV: phone, account, at, source, note."""
    account, problems = _query_account(request)
    if problems:
        return invalid(problems)
    out = io.StringIO()
    await asyncio.to_thread(request.app[PRODUCER].optouts.export_csv, account, out)
    return web.Response(text=out.getvalue(), content_type="text/csv")


def add_routes(app: web.Application) -> None:
    """Register this module's routes (export before `{phone}`, which would match it)."""
    app.router.add_get("/v1/optouts", list_optouts)
    app.router.add_post("/v1/optouts", add_optouts)
    app.router.add_post("/v1/optouts/import", import_optouts)
    app.router.add_get("/v1/optouts/export", export_optouts)
    app.router.add_get("/v1/optouts/{phone}", check_optout)
    app.router.add_delete("/v1/optouts/{phone}", remove_optout)
