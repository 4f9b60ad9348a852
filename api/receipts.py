"""`POST /v1/receipts/{account}[/{secret}]`: a provider's delivery receipt, in its own shape.

A receipt is authenticated by JustCall's signature where the account uses signed webhooks and
the request carries one (a signature that does not verify is refused even with the right
secret), otherwise by the account's `receipt_secret` in the URL; an account with neither
accepts no receipts. The answer is quick and 200 for anything we could read, applied or not:
a duplicate, a late receipt or an unknown provider id changes nothing and is not an error,
so no provider retries it in a loop.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import replace

from aiohttp import web

from api.shared import RECEIPTS, SETTINGS, error
from sms.providers import justcall
from sms.providers.base import BadReceipt
from sms.receipts import PARSERS
from sms.settings import CarrierXAccount, JustCallAccount, SkycoreAccount, TextingLineAccount

log = logging.getLogger("salvo.receipts")

Account = JustCallAccount | CarrierXAccount | TextingLineAccount | SkycoreAccount


def authentic(
    account: Account, secret: str | None, body: bytes, headers: Mapping[str, str]
) -> bool:
    """Whether a receipt proves it comes from the account's provider."""
    signed = isinstance(account, JustCallAccount) and account.signed_webhooks
    if signed and justcall.SIGNATURE_HEADER in {k.lower() for k in headers}:
        assert isinstance(account, JustCallAccount)
        return justcall.signature_valid(account.api_secret.get_secret_value(), body, headers)
    expected = account.receipt_secret
    if expected is None or secret is None:
        return False
    return hmac.compare_digest(secret.encode(), expected.get_secret_value().encode())


async def post_receipt(request: web.Request) -> web.Response:
    """Read, authenticate and apply one receipt."""
    name = request.match_info["account"]
    account = request.app[SETTINGS].providers.get(name)
    if account is None:
        return error(404, f"no provider account {name!r}")
    body = await request.read()
    if not authentic(account, request.match_info.get("secret"), body, request.headers):
        log.warning("receipt for %s refused: not authenticated", name)
        return error(401, "receipt not authenticated")
    try:
        receipt = PARSERS[account.kind](body, request.headers)
    except BadReceipt as exc:
        log.warning("receipt for %s unreadable: %s", name, exc)
        return error(400, f"not a {account.kind} receipt: {exc}")
    if receipt is None:
        return web.json_response({"result": "ignored"})
    our_id = request.query.get("m")
    if our_id and receipt.our_id is None:
        receipt = replace(receipt, our_id=our_id)
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
