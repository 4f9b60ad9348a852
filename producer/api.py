"""The Python API: `Producer(settings).send(message)`, `.send_many(messages)`, and a campaign's
`.pause(id)`, `.resume(id)` and `.cancel(id)` (producer/controls.py); one message's
`.cancel_message(id)` and `.reschedule(id, changes)` (producer/lifecycle.py).

Every message is validated (pydantic, phonenumbers, its provider's limits) before anything is
written; records and idempotency keys go to Redis in one round trip per chunk, each new message
into its account's ready queue, where the workers' metering takes it (worker/meter.py). A
repeated idempotency key with the same message returns the earlier message's id and enqueues
nothing; with a different message it is a conflict (`IdempotencyConflict`), and that message is
not written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from producer import lifecycle
from producer.controls import CampaignControls, ControlResult
from sms import callbacks, campaigns, keys, validation
from sms.campaigns import Campaign
from sms.connect import sync_client
from sms.embedded import resolve_redis_url
from sms.encoding import smarten
from sms.errors import IdempotencyConflict, InvalidMessage, KeyConflict, Problem
from sms.message import Lane, Message
from sms.optout import OptOutList, applies
from sms.providers import adapter_for
from sms.providers.base import Adapter
from sms.settings import Settings
from sms.store import Admission, Enqueued, Entry, Record, Store, enqueue_items
from worker.app import make_app

CHUNK = 1000


class Producer:
    """Validates, records and enqueues messages; reads their status back."""

    def __init__(self, settings: Settings, *, redis_url: str | None = None) -> None:
        self.settings = settings
        self.redis_url = redis_url or resolve_redis_url(settings.redis_url, settings.data_dir)
        self.redis = sync_client(self.redis_url, decode_responses=True)
        self.store = Store(self.redis, retention=settings.idempotency_retention)
        self.app = make_app(self.redis_url)
        self.controls = CampaignControls(self.redis)
        self.optouts = OptOutList(self.redis, settings.optout_scope)
        self._adapters: dict[str, Adapter[Any]] = {}
        self._noted: set[str] = set()  # accounts this producer put in keys.ACCOUNTS

    def adapter(self, account: str) -> Adapter[Any]:
        """The adapter of a configured account (ConfigError for an unknown one)."""
        adapter = self._adapters.get(account)
        if adapter is None:
            adapter = adapter_for(self.settings.account(account))
            self._adapters[account] = adapter
        return adapter

    def problems(self, message: Message) -> list[Problem]:
        """Everything wrong with `message` for its account's provider."""
        return self.problems_many([message])[0]

    def problems_many(self, messages: Sequence[Message]) -> list[list[Problem]]:
        """`problems` of each message, with one round trip for all their opt-out checks."""
        found: list[list[Problem]] = []
        asked: list[tuple[int, tuple[str, str]]] = []  # (message, (account, phone))
        for i, message in enumerate(messages):
            if (why := self.settings.unknown_account(message.account)) is not None:
                found.append([Problem("account", why)])
                continue
            found.append(lifecycle.time_problems(message.send_at, message.expires_at))
            found[-1] += self.adapter(message.account).validate(message)
            found[-1] += self.callback_problems(message)
            if self.suppresses(message.account, message.lane):
                asked.append((i, (message.account, message.to)))
        refusals = self.optouts.refusals([pair for _, pair in asked])
        for (i, _), refusal in zip(asked, refusals, strict=True):
            if refusal is not None:
                found[i].append(Problem("to", refusal))
        return found

    def callback_problems(self, message: Message) -> list[Problem]:
        """What is wrong with a message's `callback_url`: not http(s), or nothing to sign with."""
        if not message.callback_url:
            return []
        if bad := callbacks.url_problem(message.callback_url):
            return [Problem("callback_url", bad)]
        if callbacks.secret_for(self.settings, message.account) is None:
            why = f"no status_webhook_secret set for account {message.account!r} or the deployment"
            return [Problem("callback_url", why + ": callbacks are signed")]
        return []

    def suppresses(self, account: str, lane: Lane) -> bool:
        """Whether opt-outs apply to `account`'s messages on `lane` (`optout_applies_to`)."""
        return applies(self.settings.account(account).optout_applies_to, lane.value)

    def without_suppressed(self, messages: Sequence[Message]) -> list[Message]:
        """`messages` less those to numbers that opted out of their account (one round trip
        per account), for a blast that counts them apart and never enqueues them."""
        out_by_account: dict[str, set[str]] = {}
        for account in {m.account for m in messages}:
            phones = [m.to for m in messages if m.account == account]
            out_by_account[account] = self.optouts.suppressed(account, phones)
        return [
            m
            for m in messages
            if m.to not in out_by_account[m.account] or not self.suppresses(m.account, m.lane)
        ]

    def send(self, message: Message) -> str:
        """Enqueue one message; returns its id (the earlier one's, for a repeated key).
        IdempotencyConflict when its key names a message with different content."""
        return self.send_many([message])[0]

    def send_many(self, messages: Iterable[Message]) -> list[str]:
        """Validate all of a chunk, then record and enqueue it; returns ids in order.
        IdempotencyConflict, after writing the others, when some key names another message."""
        messages = list(messages)
        results = self.submit_many(messages)
        conflicts = [
            KeyConflict(index, message.idempotency_key or "", result.id)
            for index, (message, result) in enumerate(zip(messages, results, strict=True))
            if result.admission is Admission.CONFLICT
        ]
        ids = [result.id for result in results]
        if conflicts:
            raise IdempotencyConflict(conflicts, ids)
        return ids

    def submit_many(self, messages: Iterable[Message]) -> list[Enqueued]:
        """Like send_many, but answers rather than raises: per message, what enqueue did with
        it (new, a repeat or a conflict) and the id that holds its key. Messages are checked
        and written a chunk at a time: a message that would be refused raises InvalidMessage
        before its chunk is written (the chunks before it are)."""
        out: list[Enqueued] = []
        chunk: list[Message] = []
        start = 0  # the index of the chunk's first message

        def flush() -> None:
            for offset, problems in enumerate(self.problems_many(chunk)):
                if problems:
                    raise InvalidMessage(problems, f"message {start + offset}")
            out.extend(self.enqueue_valid([self._smartened(m) for m in chunk]))

        for index, message in enumerate(messages):
            chunk.append(message)
            if len(chunk) >= CHUNK:
                flush()
                chunk, start = [], index + 1
        if chunk:
            flush()
        return out

    def _smartened(self, message: Message) -> Message:
        """`message` with typographic look-alikes replaced, where its account asks for it."""
        if message.account in self.settings.providers and self.settings.smart_encoding_for(
            message.account
        ):
            return smartened(message)
        return message

    def enqueue_valid(self, messages: Sequence[Message]) -> list[Enqueued]:
        """Record and enqueue messages already validated; what enqueue did with each."""
        return self.enqueue_prepared(messages, self.enqueue_items(messages))

    def enqueue_items(
        self,
        messages: Sequence[Message],
        lines: Sequence[int] | None = None,
        rows: Sequence[str] | None = None,
        callback_url: str | None = None,
        fingerprints: Sequence[str] | None = None,
        data: Sequence[str] | None = None,
        *,
        suppress: bool = False,
    ) -> list[Entry]:
        """enqueue.lua's entry of each message, made apart from the round trip so that a blast
        makes the next chunk's while this one is written. `lines` (a blast's input lines) index
        each by its row (`keys.campaign_rows`); `rows` (the input rows as JSON) are kept on the
        records for the export; `callback_url` (a campaign's) gets their status changes unless
        a message names its own; `fingerprints` and `data` (their JSON) are the messages' own
        when the caller has them (sms.message.Stamp). With `suppress`, enqueue.lua leaves out
        the messages to numbers that opted out (`Admission.SUPPRESSED`, a blast's `suppressed`)
        in the step that would write them: no round trip of their own."""
        now = time.time()
        dues = [
            m.send_at.timestamp() if m.send_at and m.send_at.timestamp() > now else None
            for m in messages
        ]
        urls = None
        if callbacks.enabled(self.settings):
            urls = [
                callbacks.url_for(self.settings, m.account, m.callback_url or callback_url)
                for m in messages
            ]
        optouts = self._optouts_of if suppress else None
        return enqueue_items(messages, dues, lines, rows, urls, fingerprints, data, optouts)

    def _optouts_of(self, account: str, lane: str) -> str:
        """The hash of opt-outs that holds `account`'s messages on `lane` back ("" = none)."""
        return self.optouts.key(account) if self.suppresses(account, Lane(lane)) else ""

    def enqueue_prepared(
        self, messages: Sequence[Message], items: Sequence[Entry]
    ) -> list[Enqueued]:
        """Record and enqueue `messages` from their entries (`enqueue_items`), in one round
        trip (and one more the first time this producer writes to an account); what enqueue
        did with each."""
        if not messages:
            return []
        results = self.store.enqueue_entries(items)
        new = {m.account for m in messages} - self._noted
        if new:  # the accounts ever written to (the dashboard's and metrics' list), once each
            self.redis.sadd(keys.ACCOUNTS, *new)
            self._noted |= new
        return results

    def status(self, message_id: str) -> Record:
        """The record of one message (NotFound if there is none)."""
        return self.store.get(message_id)

    def campaign(self, campaign_id: str) -> Campaign:
        """A campaign's record and its counts by status (NotFound if there is none)."""
        return campaigns.read(self.redis, campaign_id)

    def pause(self, campaign_id: str) -> ControlResult:
        """Pause a campaign: workers set its messages aside (NotFound, Conflict)."""
        return self.controls.pause(campaign_id)

    def resume(self, campaign_id: str) -> ControlResult:
        """Resume a paused campaign and publish what was set aside (NotFound, Conflict)."""
        return self.controls.resume(campaign_id)

    def cancel(self, campaign_id: str) -> ControlResult:
        """Cancel a campaign: whatever it has not sent ends `cancelled` (NotFound)."""
        return self.controls.cancel(campaign_id)

    def cancel_message(self, message_id: str) -> Record:
        """Cancel one message not yet sent; its record after (NotFound; Conflict naming its
        status when it is sending or ended)."""
        return lifecycle.cancel_message(self.store, message_id)

    def reschedule(self, message_id: str, changes: dict[str, Any]) -> Record:
        """Move a queued message's `send_at` and/or `expires_at` (None clears one); its record
        after (InvalidMessage, NotFound, Conflict when too late)."""
        return lifecycle.reschedule(self.store, message_id, changes)

    def close(self) -> None:
        """Release connections."""
        self.redis.close()
        self.app.close()


def smartened(message: Message) -> Message:
    """`message` with its body's typographic look-alikes made GSM-7 (sms/encoding.smarten)."""
    body = smarten(message.body)
    return message if body == message.body else message.model_copy(update={"body": body})


def build_message(**fields: Any) -> Message:
    """A Message from keyword fields, with pydantic's errors turned into InvalidMessage."""
    try:
        return Message.model_validate(fields)
    except ValidationError as exc:
        raise InvalidMessage(validation_problems(exc)) from None


def validation_problems(exc: ValidationError) -> list[Problem]:
    """pydantic's errors as Problems naming each field, in Salvo's words (sms/validation.py,
    as every door says them)."""
    return validation.problems(exc)
