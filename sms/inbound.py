"""Inbound messages (recipients' replies): each provider's shape read by a pure parser, the
keyword a reply is, and what recording one does to the suppression list.

The shapes (shared/providers/NOTES.md, "Inbound messages"): JustCall's account webhook of type
`sms.received` with the SMS object in `data` (`direction: Incoming`); CarrierX's SMS object with
`direction: inbound` (legacy `from_did`/`to_did`); TextingLine's event
`messaging.incoming.message.received` with the message in `data` (inferred); Skycore's MO
postback, `ORIGIN=SMS_MO`, `CODE=N211`, `FROM`, `TO`, `TEXT`, `RECEIVED`, `TRANSACTIONID`, as a
form, as XML (an element per field, under a root of any name: the XML form is documented, its
element names are inferred from the form's) or as JSON with the same names in any case (the
JSON is inferred). XML is read with defusedxml, which refuses entity declarations and DTDs
(no entity expansion bombs, no external entities). A parser answers None
for a post that is not an inbound message (a delivery event to the same URL) and raises
BadInbound for a body it cannot read.

Keywords are CTIA's set, matched on the whole trimmed message, case-insensitively, with
trailing punctuation ignored ("Stop." is STOP, "please stop" is not).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import redis
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as DefusedET

from sms import keys
from sms.optout import OptOutList
from sms.phone import InvalidPhoneNumber, parse_e164
from sms.providers.base import parse_time
from sms.text import text_problem
from sms.times import iso


class BadInbound(ValueError):
    """A post that claims to be an inbound message but cannot be read as one."""


class Keyword(StrEnum):
    """What a reply asks for."""

    STOP = "stop"  # opt out
    START = "start"  # opt back in
    HELP = "help"  # ask for help: recorded


KEYWORDS: dict[str, Keyword] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), Keyword.STOP),
    **dict.fromkeys(("START", "YES", "UNSTOP"), Keyword.START),
    **dict.fromkeys(("HELP", "INFO"), Keyword.HELP),
}
_TRAILING = re.compile(r"[\s.!?,;:]+$")
_SHORT_CODE = re.compile(r"^\d{3,8}$")


def keyword(text: str) -> Keyword | None:
    """The keyword a whole message is, if it is one."""
    word = _TRAILING.sub("", text.strip()).upper()
    return KEYWORDS.get(word)


@dataclass(frozen=True, slots=True)
class Inbound:
    """One reply: who sent it (`sender`, the recipient of our messages), to which of our numbers,
    what it says, when (epoch seconds, if the provider said) and the provider's id for it."""

    sender: str
    recipient: str
    text: str
    at: float | None = None
    provider_id: str | None = None


def _number(value: object, name: str, *, short_code: bool = False) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise BadInbound(f"no {name}")
    text = value.strip()
    if short_code and _SHORT_CODE.match(text):
        return text
    if text.isdigit():
        text = "+" + text  # CarrierX and Skycore send international digits without '+'
    try:
        return parse_e164(text)
    except InvalidPhoneNumber as exc:
        raise BadInbound(f"{name}: {value!r} is not a phone number ({exc.reason})") from None


def _text(value: object, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadInbound(f"{name} is not text")
    problem = text_problem(value)
    if problem:
        raise BadInbound(f"{name}: {problem}")
    return value


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadInbound("body is not JSON") from None
    if not isinstance(data, dict):
        raise BadInbound("body is not a JSON object")
    return data


def _id(value: object) -> str | None:
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
        text = str(value)
        if len(text) > 200 or text_problem(text):
            raise BadInbound(f"message id {text[:40]!r}...: not an id we can keep")
        return text
    return None


def parse_justcall(body: bytes, headers: Mapping[str, str]) -> Inbound | None:
    """JustCall's "SMS received" account webhook; None for any other event."""
    data = _json(body)
    event = data.get("data")
    kind = data.get("type")
    if not isinstance(kind, str) or not isinstance(event, dict):
        raise BadInbound("expected {type, data: <SMS object>}")
    direction = str(event.get("direction", "")).lower()
    if direction not in ("incoming", "inbound", "1"):
        return None
    info = event.get("sms_info")
    text = info.get("body") if isinstance(info, dict) else event.get("body")
    sender = event.get("contact_number", event.get("from"))
    recipient = event.get("justcall_number", event.get("to"))
    at = parse_time(event.get("sms_user_time") or event.get("datetime") or event.get("sms_time"))
    return Inbound(
        _number(sender, "data.contact_number"),
        _number(recipient, "data.justcall_number", short_code=True),
        _text(text, "data.sms_info.body"),
        at,
        _id(event.get("id")),
    )


def parse_carrierx(body: bytes, headers: Mapping[str, str]) -> Inbound | None:
    """CarrierX's SMS object with `direction: inbound`; None for an outbound one (a receipt)."""
    data = _json(body)
    if str(data.get("direction", "")).lower() != "inbound":
        if "direction" not in data and "message_sid" not in data:
            raise BadInbound("expected the SMS object (message_sid, direction, from, to)")
        return None
    return Inbound(
        _number(data.get("from", data.get("from_did")), "from"),
        _number(data.get("to", data.get("to_did")), "to", short_code=True),
        _text(data.get("message"), "message"),
        parse_time(data.get("date_created") or data.get("date_status_changed")),
        _id(data.get("message_sid")),
    )


def parse_textingline(body: bytes, headers: Mapping[str, str]) -> Inbound | None:
    """TextingLine's `messaging.incoming.message.received` event; None for any other event."""
    data = _json(body)
    event, message = data.get("type"), data.get("data")
    if not isinstance(event, str) or not isinstance(message, dict):
        raise BadInbound("expected {id, type, createdAt, data: <message object>}")
    if event != "messaging.incoming.message.received":
        return None
    return Inbound(
        _number(message.get("from"), "data.from"),
        _number(message.get("to"), "data.to", short_code=True),
        _text(message.get("body"), "data.body"),
        parse_time(message.get("createdAt") or data.get("createdAt")),
        _id(message.get("id")),
    )


def _xml(body: bytes) -> dict[str, Any]:
    """The leaf elements of an XML document by tag (the first of each), their text."""
    try:
        root = DefusedET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise BadInbound(f"XML refused: {type(exc).__name__} (no DTDs or entities)") from None
    except (ElementTree.ParseError, ValueError, LookupError) as exc:
        # LookupError: an encoding the declaration names that Python does not know.
        raise BadInbound(f"body is not well-formed XML: {exc}") from None
    fields: dict[str, Any] = {}
    for element in root.iter():
        if len(element) == 0 and isinstance(element.tag, str):
            name = element.tag.rpartition("}")[2]  # without a namespace
            fields.setdefault(name, element.text or "")
    return fields


def parse_skycore(body: bytes, headers: Mapping[str, str]) -> Inbound | None:
    """Skycore's MO postback (form, XML or JSON, names in any case); None for an MT
    postback."""
    stripped = body.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"{"):
        raw: dict[str, Any] = _json(body)
    elif stripped.startswith(b"<"):
        raw = _xml(stripped)
    else:
        try:
            raw = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise BadInbound("body is neither JSON, XML nor a form") from None
    data = {str(k).lower().replace("_", "-"): v for k, v in raw.items()}
    if "origin" not in data:
        raise BadInbound("no ORIGIN: expected an SMS_MO postback")
    if str(data["origin"]).upper() != "SMS_MO":
        return None
    return Inbound(
        _number(data.get("from"), "FROM"),
        _number(data.get("to"), "TO", short_code=True),
        _text(data.get("text"), "TEXT"),
        parse_time(data.get("received")),
        _id(data.get("transactionid", data.get("transaction-id"))),
    )


Parser = Callable[[bytes, Mapping[str, str]], Inbound | None]

#: Each provider kind's inbound reader.
PARSERS: dict[str, Parser] = {
    "justcall": parse_justcall,
    "carrierx": parse_carrierx,
    "textingline": parse_textingline,
    "skycore": parse_skycore,
}


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a reply did: its stream id (None for a repeat the provider posted again),
    the keyword, and the action taken on the list (opted_out, opted_in, help, none)."""

    id: str | None
    keyword: Keyword | None
    action: str


def record(
    client: redis.Redis,
    optouts: OptOutList,
    account: str,
    provider: str,
    message: Inbound,
    *,
    retention: int,
) -> Recorded:
    """Keep a reply in `keys.INBOUND` and act on its keyword: STOP puts its sender on the list,
    START takes it off, HELP is recorded. A reply the provider posts again (same provider id)
    is kept and acted on once."""
    word = keyword(message.text)
    if message.provider_id is not None:
        fresh = client.set(
            keys.inbound_seen(account, message.provider_id), "1", nx=True, ex=retention
        )
        if not fresh:
            return Recorded(None, word, "repeat")
    action = "none"
    if word is Keyword.STOP:
        optouts.add(account, message.sender, source="inbound", note=message.text.strip()[:100])
        action = "opted_out"
    elif word is Keyword.START:
        optouts.remove(account, message.sender)
        action = "opted_in"
    elif word is Keyword.HELP:
        action = "help"
    fields = {
        "account": account,
        "provider": provider,
        "from": message.sender,
        "to": message.recipient,
        "text": message.text,
        "at": repr(message.at if message.at is not None else time.time()),
        "received": repr(time.time()),
        "keyword": word.value if word else "",
        "action": action,
        "provider_id": message.provider_id or "",
    }
    entry = cast(str, client.xadd(keys.INBOUND, fields))  # type: ignore[arg-type]
    return Recorded(str(entry), word, action)


def _times(fields: dict[str, str]) -> dict[str, str]:
    return {name: iso(float(fields[name])) for name in ("at", "received") if fields.get(name)}


def listing(
    client: redis.Redis, *, account: str | None = None, limit: int = 100, before: str = "+"
) -> list[dict[str, str]]:
    """The newest replies first (of one account, if given), at most `limit`, older than the
    stream id `before` ("+" for the newest): each with its stream id, and its times (`at`, as
    the provider said it was sent; `received`) in ISO 8601, as every door says a time."""
    out: list[dict[str, str]] = []
    cursor = before
    while len(out) < limit:
        page = cast(
            list[tuple[str, dict[str, str]]],
            client.xrevrange(keys.INBOUND, max=cursor, min="-", count=max(limit, 100)),
        )
        if cursor != "+" and page and page[0][0] == cursor:
            page = page[1:]
        if not page:
            break
        for entry_id, fields in page:
            if account is None or fields.get("account") == account:
                out.append({"id": entry_id, **fields, **_times(fields)})
                if len(out) >= limit:
                    break
        cursor = page[-1][0]
    return out
