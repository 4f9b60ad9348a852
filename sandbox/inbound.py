"""Inbound messages (recipients' replies), posted in each provider's shape.

Two ways to make one: `POST /_sandbox/inbound/{provider}` with `{"from", "to", "text"}` (and
optionally `"url"`) posts it at once and answers what the receiver said; and magic replies: a
message accepted for a magic replier is answered by that number, after the receipts' `delay_ms`
(`REPLIES`: +15005550004 says STOP, +15005550005 START, +15005550006 HELP).

Where a reply goes: the provider's `inbound_url`, else its `callback_url` (CarrierX documents
one `sms` callback for both; for the others sharing it is a choice, labelled inferred).

Shapes, from shared/providers/NOTES.md ("Inbound messages"):
- JustCall: the account webhook `{request_id, webhook_url, url_id, type: "sms.received", data}`,
  `data` the SMS object with `direction: "Incoming"`, `contact_number`, `justcall_number` and
  `sms_info.body` (field names inferred from JustCall's public SMS object); signed like every
  JustCall webhook: `x-justcall-signature`, hex HMAC-SHA256 by the API secret over
  `secret|urlencoded(webhook_url)|type|timestamp`, `x-justcall-request-timestamp`.
- CarrierX: the SMS object with `direction: "inbound"`, numbers as digits; no signature.
- TextingLine: `{id, type: "messaging.incoming.message.received", createdAt, data}` (inferred).
- Skycore: the v1 MO postback as a form: `ORIGIN=SMS_MO`, `CODE=N211`, `FROM`, `TO`, `TEXT`,
  `RECEIVED`, `TRANSACTIONID` (documented for v1; the v2 JSON is not documented). NOTES.md says
  it comes as a form or as XML; with `skycore_inbound_xml` the same fields are posted as XML, an
  element each under `<POSTBACK>` (the root's name is inferred).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode
from xml.sax.saxutils import escape

import aiohttp

from sandbox.formats import digits, hex_id, iso

if TYPE_CHECKING:
    from sandbox.provider import Provider
    from sandbox.receipts import Receipts

#: Magic repliers: a message accepted for one of these numbers is answered with this text.
REPLIES: dict[str, str] = {
    "15005550004": "STOP",
    "15005550005": "START",
    "15005550006": "HELP",
}


def reply_for(number: str) -> str | None:
    """The text a magic replier answers with, if the number is one."""
    return REPLIES.get(digits(number))


def destination(provider: Provider) -> str | None:
    """Where this provider posts inbound messages."""
    url = provider.state.config.get("inbound_url")
    return url if isinstance(url, str) else provider.state.callback_url


def payload(
    provider: Provider, sender: str, recipient: str, text: str, url: str
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one inbound message in `provider`'s shape."""
    now = time.time()
    name = provider.name
    if name == "justcall":
        event = "sms.received"
        body = {
            "request_id": str(uuid.uuid4()),
            "webhook_url": url,
            "url_id": hex_id(""),
            "type": event,
            "data": {
                "id": int(now * 1000) % 10**12,
                "contact_number": "+" + digits(sender),
                "justcall_number": "+" + digits(recipient),
                "direction": "Incoming",
                "sms_info": {"body": text, "is_mms": "false", "mms": []},
                "sms_user_time": iso(now),
            },
        }
        stamp = str(int(now))
        secret = _justcall_secret(provider)
        signed = f"{secret}|{quote(url, safe='')}|{event}|{stamp}"
        signature = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "x-justcall-signature": signature,
            "x-justcall-request-timestamp": stamp,
        }
        return json.dumps(body).encode(), headers
    if name == "carrierx":
        body = {
            "message_sid": str(uuid.uuid4()),
            "direction": "inbound",
            "from": digits(sender),
            "to": digits(recipient),
            "message": text,
            "status": "received",
            "type": "sms",
            "date_created": iso(now),
        }
        return json.dumps(body).encode(), {"Content-Type": "application/json"}
    if name == "textingline":
        body = {
            "id": hex_id("evt_"),
            "type": "messaging.incoming.message.received",
            "createdAt": iso(now),
            "data": {
                "id": hex_id("msg_"),
                "direction": "inbound",
                "from": "+" + digits(sender),
                "to": "+" + digits(recipient),
                "body": text,
                "createdAt": iso(now),
            },
        }
        return json.dumps(body).encode(), {"Content-Type": "application/json"}
    form = {
        "ORIGIN": "SMS_MO",
        "CODE": "N211",
        "FROM": digits(sender),
        "TO": digits(recipient),
        "TEXT": text,
        "RECEIVED": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
        "TRANSACTIONID": hex_id(""),
    }
    if provider.state.config.get("skycore_inbound_xml"):
        fields = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in form.items())
        document = f'<?xml version="1.0" encoding="UTF-8"?>\n<POSTBACK>{fields}</POSTBACK>\n'
        return document.encode(), {"Content-Type": "text/xml; charset=utf-8"}
    return urlencode(form).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


def _justcall_secret(provider: Provider) -> str:
    credentials = provider.state.config.get("credentials") or [{}]
    return str(credentials[0].get("api_secret", ""))


async def post(
    receipts: Receipts, provider: Provider, sender: str, recipient: str, text: str, url: str
) -> tuple[int, Any]:
    """Post one inbound message; the receiver's status and answer (0 and the error when the
    post failed). Counted in the provider's `inbound_sent` / `inbound_errors`."""
    body, headers = payload(provider, sender, recipient, text, url)
    counters = provider.state.counters
    session = receipts.session
    if session is None:
        counters["inbound_errors"] += 1
        return 0, "sandbox is not running"
    try:
        async with session.post(url, data=body, headers=headers) as resp:
            answer: Any = await resp.text()
            status = resp.status
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        counters["inbound_errors"] += 1
        return 0, f"{type(exc).__name__}: {exc}"
    counters["inbound_sent" if status < 300 else "inbound_errors"] += 1
    with contextlib.suppress(ValueError):
        answer = json.loads(answer)
    return status, answer


def schedule_reply(receipts: Receipts, provider: Provider, sender: str, recipient: str) -> None:
    """If `recipient` is a magic replier, have it answer `sender` after the receipts' delay."""
    text = reply_for(recipient)
    url = destination(provider)
    if text is None or url is None:
        return
    delay = float(provider.state.receipts.get("delay_ms", 200)) / 1000

    async def later() -> None:
        await asyncio.sleep(delay)
        await post(receipts, provider, recipient, sender, text, url)

    task = asyncio.get_running_loop().create_task(later())
    receipts.tasks.add(task)
    task.add_done_callback(receipts.tasks.discard)
