"""`POST /v1/receipts/{account}[/{secret}]`: a provider's delivery receipt, in its own shape.

Authentication comes before the body is read. An account's `receipt_secret` must be the URL's
last segment; for a JustCall account with `signed_webhooks`, a request carrying
`x-justcall-signature` is judged by that signature instead (a signature that does not verify is
refused even with the right secret). An unknown account, a wrong or missing secret, a bad
signature and a stale timestamp all answer the same 401, so account names cannot be probed.

JustCall's signature covers the webhook URL, the event type and the timestamp header, not the
payload: a captured webhook could be replayed with another payload. So a signed webhook is
refused unless its timestamp is within `receipt_window` seconds (default 300) of our clock, and
each notification id (JustCall's `request_id`, a TextingLine event id) is accepted once
(`keys.receipt_event`, kept longer than the window): a repeat answers 200 `duplicate` and
changes nothing. Reading the signed fields means parsing the body first; it is at most
`api_max_body` bytes, read within `api_body_timeout`, and parsed without recursion limits
being reachable (sms/providers/base.load_json).

The answer is quick and 200 for anything we could read, applied or not: a duplicate, a late
receipt or an unknown provider id changes nothing and is not an error, so no provider retries
it in a loop. While Redis is down the answer is 503 (api/app.py), which providers retry.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import replace

from aiohttp import web

from api.shared import RECEIPTS, REDIS, SETTINGS, error, read_body
from sms import keys
from sms.providers import adapter_for, justcall
from sms.providers.base import BadReceipt, Receipt, parse_time
from sms.settings import CarrierXAccount, JustCallAccount, SkycoreAccount, TextingLineAccount
from sms.text import text_problem

log = logging.getLogger("salvo.receipts")

Account = JustCallAccount | CarrierXAccount | TextingLineAccount | SkycoreAccount

#: Seconds a notification id is remembered at least (JustCall retries for under 10 minutes).
KEEP_EVENTS = 86400
_NOBODY = b"no account has this secret"


def signed(account: Account | None, headers: Mapping[str, str]) -> bool:
    """Whether the request claims JustCall's signature for an account that uses it."""
    return (
        isinstance(account, JustCallAccount)
        and account.signed_webhooks
        and justcall.SIGNATURE_HEADER in {k.lower() for k in headers}
    )


def secret_matches(account: Account | None, secret: str | None, signed: bool) -> bool:
    """Whether the URL's secret is the account's; a signed request is judged by its signature
    instead (checked once its body is read). An unknown account costs the same compare."""
    expected = account.receipt_secret if account is not None else None
    given = (secret or "").encode(errors="replace")
    if expected is None or signed:
        hmac.compare_digest(given, _NOBODY)
        return account is not None and signed
    return secret is not None and hmac.compare_digest(given, expected.get_secret_value().encode())


def timestamp_fresh(headers: Mapping[str, str], window: int, now: float) -> bool:
    """Whether JustCall's timestamp header is within `window` seconds of `now`."""
    stamp = next((v for k, v in headers.items() if k.lower() == justcall.TIMESTAMP_HEADER), None)
    at = parse_time(stamp)
    return at is not None and abs(now - at) <= window


def receipt_problem(receipt: Receipt, our_id: str | None) -> str | None:
    """Why the ids of a parsed receipt cannot be used (they become Redis keys), or None."""
    for name, value in (
        ("provider id", receipt.provider_id),
        ("our id", our_id),
        ("event id", receipt.event),
    ):
        if value is not None:
            if len(value) > 200:
                return f"{name}: longer than 200 characters"
            problem = text_problem(value)
            if problem:
                return f"{name}: {problem}"
    return None


def refused(name: str, why: str, what: str = "receipt") -> web.Response:
    """The one answer to every failed authentication; the log says which it was."""
    log.warning("%s for %r refused: %s", what, name, why)
    return error(401, f"{what} not authenticated")


async def authenticated_body(
    request: web.Request, what: str
) -> tuple[str, Account, bytes] | web.Response:
    """A provider's webhook (a receipt, a reply) authenticated before its body is read, as the
    module docstring says; (account name, account, body), or the one 401 answer."""
    settings = request.app[SETTINGS]
    name = request.match_info["account"]
    account = settings.providers.get(name)
    is_signed = signed(account, request.headers)
    if not secret_matches(account, request.match_info.get("secret"), is_signed):
        return refused(name, "unknown account or wrong secret", what)
    assert account is not None
    if is_signed and not timestamp_fresh(request.headers, settings.receipt_window, time.time()):
        window = settings.receipt_window
        return refused(name, f"signed timestamp not within {window} s of now", what)
    body = await read_body(request)
    if is_signed:
        assert isinstance(account, JustCallAccount)
        secret = account.api_secret.get_secret_value()
        if not justcall.signature_valid(secret, body, request.headers):
            return refused(name, "signature does not verify", what)
    return name, account, body


async def post_receipt(request: web.Request) -> web.Response:
    """Authenticate, then read, parse and apply one receipt."""
    settings = request.app[SETTINGS]
    authenticated = await authenticated_body(request, "receipt")
    if isinstance(authenticated, web.Response):
        return authenticated
    name, account, body = authenticated
    try:
        receipt = adapter_for(account).parse_receipt(body, request.headers)
    except BadReceipt as exc:
        log.warning("receipt for %s unreadable: %s", name, exc)
        return error(400, f"not a {account.kind} receipt: {exc}")
    if receipt is None:
        return web.json_response({"result": "ignored"})
    our_id = request.query.get("m")
    problem = receipt_problem(receipt, our_id)
    if problem:
        log.warning("receipt for %s unusable: %s", name, problem)
        return error(400, f"not a {account.kind} receipt: {problem}")
    if our_id and receipt.our_id is None:
        receipt = replace(receipt, our_id=our_id)
    if receipt.event is not None:
        return await apply_once(request, name, receipt, settings.receipt_window)
    return await apply(request, name, receipt)


async def apply_once(
    request: web.Request, name: str, receipt: Receipt, window: int
) -> web.Response:
    """Apply a receipt whose notification id has not been accepted before; 200 `duplicate`
    (nothing applied) for one that has. A failure forgets the id, so a retry applies it."""
    assert receipt.event is not None
    key = keys.receipt_event(name, receipt.event)
    client = request.app[REDIS]
    if not await client.set(key, "1", nx=True, ex=max(KEEP_EVENTS, 2 * window)):
        log.info("receipt for %s: notification %s already accepted; ignored", name, receipt.event)
        return web.json_response({"result": "duplicate"})
    try:
        return await apply(request, name, receipt)
    except BaseException:
        await client.delete(key)
        raise


async def apply(request: web.Request, name: str, receipt: Receipt) -> web.Response:
    """Apply a receipt to its message and say what it did."""
    applied = await request.app[RECEIPTS].apply(name, receipt)
    if applied.outcome == "held":
        log.info(
            "receipt for %s: provider id %s not recorded yet; %s held for its send",
            name,
            receipt.provider_id,
            receipt.status.value,
        )
    elif applied.outcome == "unmatched":
        log.warning(
            "receipt for %s: no message with provider id %s (our id %s); %s ignored",
            name,
            receipt.provider_id,
            receipt.our_id,
            receipt.status.value,
        )
    else:
        log.info(
            "receipt for %s: %s %s -> %s (%s)",
            name,
            applied.message_id,
            applied.before,
            applied.after,
            applied.outcome,
        )
    answer = {"result": applied.outcome, "id": applied.message_id, "status": applied.after}
    return web.json_response(answer)


def add_routes(app: web.Application) -> None:
    """Register this module's routes."""
    app.router.add_post("/v1/receipts/{account}", post_receipt)
    app.router.add_post("/v1/receipts/{account}/{secret}", post_receipt)
