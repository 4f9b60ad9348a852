"""`POST /v1/messages` (one message or a list), `GET /v1/messages/{id}`, and a queued
message's cancel (`DELETE`) and move of its send_at or expires_at (`PATCH`).

Validation is the Python API's, message by message (pydantic, then the provider's limits), and
every problem of every message is reported at once with its index and field; nothing is
enqueued unless all are valid. An idempotency key comes in the body or in the
`Idempotency-Key` header (for a list, the header key plus `:{index}`): a repeat of the same
message answers the earlier message's id with `"repeat": true` and sends nothing; the same key
with a different message is a 409 naming the message that holds it.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiohttp import web
from pydantic import ValidationError

from api import models
from api.shared import PRODUCER, REDIS, error, invalid, problem, read_json
from producer.api import Producer, build_message, validation_problems
from sms import keys
from sms.errors import Conflict, IdempotencyConflict, InvalidMessage, KeyConflict, NotFound
from sms.holds import aholding
from sms.message import Lane, Message
from sms.store import Admission, Record
from sms.text import text_problem

#: The fields a message object may have (`from` is the sender): the message's own.
FIELDS = models.MESSAGE_FIELDS
#: Messages sent one by one over HTTP are reminders, ahead of any blast, unless told otherwise.
DEFAULT_LANE = Lane.TRANSACTIONAL.value


def build_all(
    producer: Producer, items: list[Any], header_key: str | None, single: bool
) -> tuple[list[Message], list[dict[str, Any]]]:
    """Validate every item; the messages, or every problem found (blocking: run in a thread)."""
    messages: list[Message] = []
    at: list[int] = []  # each message's index among the items
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(problem("message", "expected a JSON object", index))
            continue
        found = [problem(f, "not a known field", index) for f in sorted(set(item) - FIELDS)]
        fields = {k: v for k, v in item.items() if k in FIELDS}
        fields.setdefault("lane", DEFAULT_LANE)
        if header_key is not None:
            key = header_key if single else f"{header_key}:{index}"
            body_key = fields.get("idempotency_key")
            if body_key is None:
                fields["idempotency_key"] = key
            elif single and body_key != header_key:
                reason = "differs from the Idempotency-Key header"
                found.append(problem("idempotency_key", reason, index))
        try:
            message = build_message(**fields)
        except InvalidMessage as exc:
            found += [problem(p.field, p.problem, index) for p in exc.problems]
        else:  # its times are checked with the provider's rules (Producer.problems_many)
            messages.append(message)
            at.append(index)
        problems += found
    # The provider's checks and the opt-out list, for every message in one round trip.
    for index, refused in zip(at, producer.problems_many(messages), strict=True):
        problems += [problem(p.field, p.problem, index) for p in refused]
    problems.sort(key=lambda p: p.get("index", -1))
    return messages, problems


async def post_messages(request: web.Request) -> web.Response:
    """Validate and enqueue; 202 with the ids in order, or 422 with every problem."""
    data = await read_json(request)
    single = isinstance(data, dict)
    items = [data] if single else data
    if not isinstance(items, list):
        return invalid([problem("body", "expected a message object or a list of them")])
    if not items:
        return invalid([problem("body", "empty list: nothing to send")])
    header_key = request.headers.get("Idempotency-Key")
    if header_key is not None and not 1 <= len(header_key) <= 200:
        return invalid([problem("Idempotency-Key", "must be 1 to 200 characters")])
    if header_key is not None and (bad := text_problem(header_key)):
        return invalid([problem("Idempotency-Key", bad)])
    producer = request.app[PRODUCER]
    messages, problems = await asyncio.to_thread(build_all, producer, items, header_key, single)
    if problems:
        return invalid(problems)
    results = await asyncio.to_thread(producer.submit_many, messages)
    ids = [result.id for result in results]
    conflicts = [
        KeyConflict(index, message.idempotency_key or "", result.id)
        for index, (message, result) in enumerate(zip(messages, results, strict=True))
        if result.admission is Admission.CONFLICT
    ]
    if conflicts:
        refused = models.IdempotencyConflict(
            error=str(IdempotencyConflict(conflicts, ids)),
            conflicts=[
                models.KeyConflict(index=c.index, idempotency_key=c.key, existing=c.existing)
                for c in conflicts
            ],
            ids=ids,
        )
        return web.json_response(refused.json_body(), status=409)
    repeats = [i for i, result in enumerate(results) if result.admission is Admission.REPEAT]
    answer = models.Accepted(ids=ids, repeat=len(repeats) == len(ids), repeats=repeats)
    return web.json_response(answer.json_body(), status=202)


async def get_message(request: web.Request) -> web.Response:
    """A message's record: status, attempts, provider id and its history with timestamps."""
    mid = request.match_info["id"]
    raw = cast(dict[str, str], await request.app[REDIS].hgetall(keys.message(mid)))
    if not raw or "data" not in raw:
        return error(404, f"no message with id {mid!r}")
    record = Record.from_hash(mid, raw)
    record = record.held(await aholding(request.app[REDIS], [record.pair]))
    return record_answer(record)


def record_answer(record: Record) -> web.Response:
    """A message's record as the answer."""
    return web.json_response(models.Record.model_validate(record.as_dict()).json_body())


async def delete_message(request: web.Request) -> web.Response:
    """Cancel a message not yet sent: 200 with its record, 404, or 409 naming its status."""
    producer = request.app[PRODUCER]
    try:
        record = await asyncio.to_thread(producer.cancel_message, request.match_info["id"])
    except NotFound as exc:
        return error(404, str(exc))
    except Conflict as exc:
        return error(409, str(exc))
    return record_answer(record)


async def patch_message(request: web.Request) -> web.Response:
    """Move a queued message's send_at and/or expires_at: 200 with its record, 404, 409 when
    too late, 422 naming each bad field."""
    data = await read_json(request)
    if not isinstance(data, dict) or not data:
        return invalid([problem("body", "expected an object with send_at and/or expires_at")])
    try:
        times = models.MessageTimes.model_validate(data)
    except ValidationError as exc:
        return invalid([problem(p.field, p.problem) for p in validation_problems(exc)])
    changes = {name: getattr(times, name) for name in times.model_fields_set}
    producer = request.app[PRODUCER]
    try:
        record = await asyncio.to_thread(producer.reschedule, request.match_info["id"], changes)
    except InvalidMessage as exc:
        return invalid([problem(p.field, p.problem) for p in exc.problems])
    except NotFound as exc:
        return error(404, str(exc))
    except Conflict as exc:
        return error(409, str(exc))
    return record_answer(record)


def add_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_post("/v1/messages", post_messages)
    app.router.add_get("/v1/messages/{id}", get_message)
    app.router.add_delete("/v1/messages/{id}", delete_message)
    app.router.add_patch("/v1/messages/{id}", patch_message)
