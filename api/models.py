"""The HTTP API's shapes as pydantic models: what each answer holds, and the message a request
sends (which is `sms.message.Message` itself, less the fields only Salvo sets).

api/openapi.py generates the OpenAPI document's components from these models, and the
handlers build their answers through them, so the document and the answers cannot drift
apart. Answers may carry more fields than a model names (extra="allow"); requests may not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sms.campaigns import CampaignState
from sms.message import Message, Status

#: A moment: ISO 8601 with an offset (sms.times.iso).
Time = Annotated[str, Field(json_schema_extra={"format": "date-time"}, description="ISO 8601")]

#: The fields of a message only Salvo sets: its id, and its campaign (a blast's).
SET_BY_SALVO = frozenset({"id", "campaign"})
#: The fields a message object of a request may have, by the names clients write (`from`).
MESSAGE_FIELDS = frozenset(
    (f.alias or name) for name, f in Message.model_fields.items() if name not in SET_BY_SALVO
)


class Answer(BaseModel):
    """Base of every answer: its JSON is `model_dump(mode="json")`."""

    model_config = ConfigDict(extra="allow")

    def json_body(self) -> dict[str, Any]:
        """The answer as a JSON-ready dict, without the optional fields left unset."""
        return self.model_dump(mode="json", exclude_unset=True)


class Error(Answer):
    """An error, said in words."""

    error: str


class Problem(Answer):
    """One problem of a request: which field (of which message of a list) and why."""

    index: int | None = Field(default=None, description="which message of the request")
    field: str
    reason: str


class Invalid(Answer):
    """A request refused before anything was written (422): every problem with it."""

    errors: list[Problem]


class Accepted(Answer):
    """Messages enqueued: their ids in order; a repeated idempotency key with the same message
    answers the earlier message's id, listed in `repeats`."""

    ids: list[str]
    repeat: bool = Field(description="every message was a repeat: nothing new was enqueued")
    repeats: list[int] = Field(description="indexes of the messages that were repeats")


class KeyConflict(Answer):
    """A message whose idempotency key already names a message with different content."""

    index: int
    idempotency_key: str
    existing: str = Field(description="the id of the message that holds the key")


class IdempotencyConflict(Error):
    """409: some messages' keys name other messages; the others were enqueued (`ids`)."""

    conflicts: list[KeyConflict]
    ids: list[str]


class HistoryEntry(Answer):
    """One status change of a message: when, to what, and why."""

    at: Time
    status: Status
    reason: str


class Record(Answer):
    """A message's record: where it is, how often it was tried, and its history."""

    id: str
    status: Status
    account: str
    to: str
    campaign: str | None = None
    attempts: int
    reason: str
    provider_id: str | None = None
    send_at: Time | None = None
    expires_at: Time | None = None
    waiting_for: str | None = Field(
        default=None, description="what a queued message waits for, in words"
    )
    created: Time
    updated: Time
    history: list[HistoryEntry]


class CampaignMessage(Record):
    """A campaign's message with the line of its input row, and that row's own columns."""

    line: int
    provider: str = Field(description="the provider its account sends through")
    segments: int = Field(description="the parts it is sent as: an SMS's segments, 1 for MMS")
    row: dict[str, str | None] = Field(description="its input row's own columns by name")


class MessagePage(Answer):
    """Some of a campaign's messages in row order, and the cursor of the next page (absent
    once the campaign is read)."""

    messages: list[CampaignMessage]
    next: str | None = Field(description="pass as `cursor` for the next page; null at the end")


class CampaignList(Answer):
    """Campaigns, newest first, and the cursor of the next page (null at the end)."""

    campaigns: list[Campaign]
    next: str | None = Field(description="pass as `cursor` for the next page; null at the end")


class MessageTimes(BaseModel):
    """A move of a queued message: its new `send_at` and/or `expires_at` (null clears one)."""

    model_config = ConfigDict(extra="forbid")

    send_at: datetime | None = None
    expires_at: datetime | None = None


class RejectedRow(Answer):
    """A row of a campaign file that was not enqueued."""

    line: int
    reason: str


class Blast(Answer):
    """What an upload did: rows read, enqueued, already enqueued, rejected and suppressed."""

    campaign: str
    rows: int
    enqueued: int
    duplicates: int = Field(description="rows already enqueued before (repeats)")
    rejected: int
    suppressed: int = 0
    reasons: dict[str, int]
    rejects: list[RejectedRow] = Field(description="the first 100 rejected rows")


class IngestRun(Answer):
    """One run's reading of a campaign's file (the latest): its own rows' counts so far."""

    rows: int = Field(0, description="rows read")
    enqueued: int = Field(0, description="rows this run enqueued")
    duplicates: int = Field(0, description="rows whose message was already enqueued")
    rejected: int = 0
    suppressed: int = Field(0, description="rows to numbers that opted out")


class Ingest(Answer):
    """The reading of a campaign's file: its state (its latest run's) and the campaign's rows'
    counts so far, over every run of its file (a replay adds what it enqueued, 0 for the same
    file again, and never lowers them); `run` has the latest run's own."""

    state: Literal["waiting", "reading", "done", "stopped", "failed", "stalled"]
    reason: str = Field("", description="why it stopped, failed or stalled")
    rows: int = Field(0, description="the campaign's rows: enqueued + duplicates + rejected...")
    enqueued: int = Field(0, description="messages its runs enqueued, all together")
    duplicates: int = Field(0, description="rows repeating a message of the same file")
    rejected: int = Field(0, description="rows rejected (the most any run found)")
    suppressed: int = Field(0, description="rows to numbers that opted out (the most any run)")
    stopped_at: int | None = Field(None, description="the first line not done, when stopped")
    updated: Time | None = None
    run: IngestRun | None = Field(
        None,
        description=(
            "the latest run's own counts: a replay's rows already enqueued are its duplicates "
            "(null for a campaign from before they were kept)"
        ),
    )


class Upload(Answer):
    """An upload stored and queued to be read in the background: its campaign, where to follow
    it, and its ingest so far."""

    campaign: str
    status: str = Field(description="the campaign's URL (also the Location header)")
    ingest: Ingest
    estimate: dict[str, Any] | None = Field(
        default=None,
        description=(
            "the preflight's figures before sending (what `salvo blast` prints first): rows, "
            "rejected, duplicates, suppressed, to_send, encoding, segments, cost, rate and "
            "seconds, of the whole file when `exact`, else scaled from its first `sampled` rows"
        ),
    )


class Campaign(Answer):
    """A campaign's state, its record and its messages' counts by status."""

    id: str
    state: CampaignState
    account: str = ""
    sender: str = Field("", description="the number its messages go from")
    template: str = ""
    source: str = ""
    created: Time
    starts: Time | None = Field(default=None, description="when its first message is due")
    rejected: int = 0
    suppressed: int = 0
    counts: dict[str, int]
    ingest: Ingest | None = Field(
        None, description="the reading of its file (null for a campaign from before it was kept)"
    )
    held: str | None = Field(
        None,
        description="the hold its waiting messages wait for, in words, as `salvo status` and "
        "their `waiting_for` say it (null when none is in force)",
    )


class Control(Answer):
    """A campaign's state before and after a control, and what it published again."""

    campaign: str
    previous: CampaignState
    state: CampaignState
    republished: int = Field(description="set-aside messages published again")
    brought_forward: int = Field(description="scheduled messages made due now (cancel)")


class ReceiptAnswer(Answer):
    """What a delivery receipt did to its message."""

    result: Literal["moved", "stale", "unmatched", "held", "ignored", "duplicate"]
    id: str | None = None
    status: str | None = None


class Health(Answer):
    """Whether Redis answers and a worker was seen lately; `problems` says what is missing."""

    status: Literal["ok", "unavailable"]
    redis: bool
    workers: int
    problems: list[str]


#: Every model the document's components hold, by name.
COMPONENTS: tuple[type[BaseModel], ...] = (
    Error,
    Problem,
    Invalid,
    Accepted,
    KeyConflict,
    IdempotencyConflict,
    HistoryEntry,
    Record,
    MessageTimes,
    CampaignMessage,
    MessagePage,
    CampaignList,
    RejectedRow,
    Blast,
    IngestRun,
    Ingest,
    Upload,
    Campaign,
    Control,
    ReceiptAnswer,
    Health,
)
