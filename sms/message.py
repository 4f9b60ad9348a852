"""The message, its options and its statuses: the pydantic models both sides share."""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from sms.callbacks import url_problem
from sms.campaigns import CampaignId
from sms.errors import InvalidMessage, Problem
from sms.phone import parse_e164
from sms.text import text_problem

SHORT_CODE = re.compile(r"^\d{3,8}$")


class Lane(StrEnum):
    """Which Celery queue carries a message: transactional is always consumed ahead of bulk."""

    TRANSACTIONAL = "transactional"
    BULK = "bulk"


class Status(StrEnum):
    """Where a message is. Statuses only move forward. The terminal ones end the send; of
    those, only `sent` may still move, when a receipt says delivered, undelivered or failed."""

    QUEUED = "queued"  # waiting for a worker (or for its due time in the schedule)
    SENDING = "sending"  # claimed by a worker, which holds a lease
    SENT = "sent"  # accepted by the provider
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    UNKNOWN = "unknown"  # may have reached the provider: held for reconciliation
    EXPIRED = "expired"  # its validity ended before it could be sent
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"  # its recipient opted out before it was sent: never sent


TERMINAL = frozenset(
    {
        Status.SENT,
        Status.DELIVERED,
        Status.UNDELIVERED,
        Status.FAILED,
        Status.EXPIRED,
        Status.CANCELLED,
        Status.SUPPRESSED,
    }
)


def new_id() -> str:
    """A fresh message or campaign id: 32 hex characters, safe in every provider's id fields."""
    return uuid.uuid4().hex


#: Validation context for records Salvo wrote itself: their numbers were parsed at enqueue.
TRUSTED = {"trusted": True}


def _trusted(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("trusted"))


def _e164(value: str, info: ValidationInfo) -> str:
    return value if _trusted(info) else parse_e164(value)


def _sender(value: str, info: ValidationInfo) -> str:
    if _trusted(info):
        return value
    value = value.strip()
    if SHORT_CODE.match(value):
        return value
    return parse_e164(value)


E164 = Annotated[str, AfterValidator(_e164)]
Sender = Annotated[str, AfterValidator(_sender)]


class Options(BaseModel):
    """Per-provider options; each adapter reads the ones its provider knows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_mask: str | None = None  # Skycore: alphanumeric sender shown instead of the number
    campaign_ref: str | None = None  # Skycore: campaign the recipient is subscribed to
    click_tracking: bool | None = None  # Skycore: replace links with tracked short links
    group_recipients: tuple[E164, ...] = ()  # CarrierX: group MMS recipients


class Message(BaseModel):
    """One text or multimedia message to one recipient through one provider account."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(default_factory=new_id)
    account: str = Field(
        description="provider account name from the settings", json_schema_extra={"minLength": 1}
    )
    to: E164 = Field(
        description="recipient, E.164 (+14155551234; spaces and punctuation allowed)",
        examples=["+12025550123"],
    )
    sender: Sender = Field(
        alias="from", description="sender number or short code", json_schema_extra={"minLength": 1}
    )
    body: str = ""
    media_urls: tuple[str, ...] = Field((), description="http(s) URLs of media: an MMS")
    campaign: CampaignId | None = None
    idempotency_key: str | None = Field(
        None,
        description="a repeat with the same key and message sends nothing; 1 to 200 characters",
        json_schema_extra={"minLength": 1, "maxLength": 200},
    )
    lane: Lane = Lane.BULK
    options: Options = Field(default_factory=Options)
    send_at: datetime | None = None
    expires_at: datetime | None = None
    callback_url: str | None = Field(
        None,
        description="http(s) URL that receives this message's status changes, signed "
        "(else its account's or the deployment's status_webhook_url)",
    )

    @field_validator("account", "body", "campaign", "idempotency_key")
    @classmethod
    def _text(cls, value: str | None, info: ValidationInfo) -> str | None:
        problem = None if value is None or _trusted(info) else text_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("media_urls")
    @classmethod
    def _urls(cls, urls: tuple[str, ...]) -> tuple[str, ...]:
        for url in urls:
            if not re.match(r"^https?://[^\s/]+\S*$", url):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return urls

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, url: str | None, info: ValidationInfo) -> str | None:
        if url is not None and not _trusted(info) and (problem := url_problem(url)):
            raise ValueError(problem)
        return url

    @field_validator("idempotency_key")
    @classmethod
    def _key(cls, key: str | None) -> str | None:
        if key is not None and not 1 <= len(key) <= 200:
            raise ValueError("must be 1 to 200 characters")
        return key

    @classmethod
    def from_record(cls, data: str | bytes) -> Message:
        """A message from its record's JSON, without parsing its numbers again."""
        return cls.model_validate_json(data, context=TRUSTED)

    def record_json(self) -> str:
        """The message as its record keeps it (`data`): every field but those at their
        defaults (no empty media list, no options, no null times), which `from_record` fills
        in again; about half the size of the whole, on each of a campaign's millions."""
        return self.model_dump_json(exclude_defaults=True)

    @property
    def is_mms(self) -> bool:
        """Whether the message carries media (or goes to a group), which makes it an MMS."""
        return bool(self.media_urls or self.options.group_recipients)

    def fingerprint(self) -> str:
        """A digest of what the message asks for, without its id and idempotency key: a repeat
        of a keyed request has the same one, a changed request (new recipient, body, time)
        another. Times count as instants, whatever offset they were written with."""
        return _digest(self._fingerprinted())

    def _fingerprinted(self) -> dict[str, Any]:
        """What the fingerprint is a digest of."""
        data = self.model_dump(mode="json", exclude={"id", "idempotency_key"})
        if data["callback_url"] is None:
            del data["callback_url"]  # as before callbacks: keys written then still match
        for name in ("send_at", "expires_at"):
            when: datetime | None = getattr(self, name)
            data[name] = None if when is None else when.timestamp()
        return data

    def to_record(self) -> dict[str, Any]:
        """The JSON-safe form stored in the message record."""
        return self.model_dump(mode="json", by_alias=False, exclude_defaults=False)


def _fingerprint_text(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(_fingerprint_text(data).encode()).hexdigest()[:32]


#: One string as the fingerprint's JSON writes it (json.dumps with ensure_ascii=False), and as
#: pydantic writes it in `model_dump_json` (the same escapes: quote, backslash, and control
#: characters, \n \r \t \b \f short and the others as lower-case \u00XX).
_dumps = json.encoder.encode_basestring
#: The fields of a stamp's message that are its own, in `Message`'s order.
_OWN = ("id", "to", "body", "idempotency_key")
_new_message = Message.__new__
_set = object.__setattr__


class Stamp:
    """Messages alike but for their recipient, body and idempotency key (the rows of a blast):
    everything else is validated once, in `prototype`, and each message is a copy of it with
    its own three fields, checked as Message checks them. Far cheaper than a Message per row,
    and no check is skipped: `to` is the E.164 that `parse_e164` returned (Message would parse
    it again to the same), the body and the key get the same text and length checks."""

    #: Ids made at a time: 16 random bytes each, as hex, from one os.urandom call.
    IDS = 512

    def __init__(self, prototype: Message) -> None:
        self.prototype = prototype
        self._ids: list[str] = []
        # The fingerprint's JSON text around the two fields that differ, each row's encoded
        # alone between them: the same text as json.dumps of the whole (sort_keys), in order.
        marks = {"to": "\x00to\x00", "body": "\x00body\x00"}
        text = _fingerprint_text({**prototype._fingerprinted(), **marks})
        encoded = {name: json.dumps(mark) for name, mark in marks.items()}
        self._to_first = text.index(encoded["to"]) < text.index(encoded["body"])
        first, second = (encoded["to"], encoded["body"])[:: 1 if self._to_first else -1]
        self._head, rest = text.split(first)
        self._middle, self._tail = rest.split(second)
        self._values = dict(prototype.__dict__)
        self._fields_set = prototype.__pydantic_fields_set__ | set(_OWN)
        self._data = _data_parts(prototype)

    def message(self, to: str, body: str, key: str) -> Message:
        """The prototype with a new id, `to` (already E.164), `body` and `key`; InvalidMessage
        naming each bad field, in the words Message's validation uses."""
        problems = []
        if bad := text_problem(body):
            problems.append(Problem("body", bad))
        if bad := text_problem(key):
            problems.append(Problem("idempotency_key", bad))
        elif not 1 <= len(key) <= 200:
            problems.append(Problem("idempotency_key", "must be 1 to 200 characters"))
        if problems:
            raise InvalidMessage(problems)
        if not self._ids:
            pool = os.urandom(16 * self.IDS).hex()
            self._ids = [pool[i : i + 32] for i in range(0, len(pool), 32)]
        # What `prototype.model_copy(update=...)` makes, without its generic steps: every
        # field the prototype's, validated once, but these four.
        values = self._values.copy()
        values["id"] = self._ids.pop()
        values["to"] = to
        values["body"] = body
        values["idempotency_key"] = key
        message = _new_message(Message)
        _set(message, "__dict__", values)
        _set(message, "__pydantic_extra__", None)
        _set(message, "__pydantic_fields_set__", set(self._fields_set))
        _set(message, "__pydantic_private__", None)
        return message

    def data(self, message: Message) -> str:
        """`message.record_json()` for one of this stamp's messages (its body smartened
        or not): the prototype's JSON with its own four fields in their places."""
        parts = self._data
        if parts is None or message.idempotency_key is None or not message.body:
            return message.record_json()  # (an empty body is a default: left out)
        return "".join(
            (
                parts[0],
                _dumps(message.id),
                parts[1],
                _dumps(message.to),
                parts[2],
                _dumps(message.body),
                parts[3],
                _dumps(message.idempotency_key),
                parts[4],
            )
        )

    def fingerprint(self, message: Message) -> str:
        """`message.fingerprint()` for one of this stamp's messages (its body smartened or
        not), from the prototype's fields and its own `to` and `body`."""
        first, second = (message.to, message.body) if self._to_first else (message.body, message.to)
        text = "".join((self._head, _dumps(first), self._middle, _dumps(second), self._tail))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _data_parts(prototype: Message) -> tuple[str, ...] | None:
    """The prototype's `record_json()` cut around its own fields (`_OWN`, in that order),
    or None if the cut is not sure (a marker found elsewhere than in its own field)."""
    marks = {name: f"\ue000{name}\ue000" for name in _OWN}
    text = prototype.model_copy(update=marks).record_json()
    parts = []
    for name in _OWN:
        encoded = _dumps(marks[name])
        if text.count(encoded) != 1:
            return None
        head, text = text.split(encoded)
        parts.append(head)
    parts.append(text)
    return tuple(parts)
