"""Salvo's exception tree: what went wrong, said in words a user can act on.

    SalvoError
    ├── ConfigError            settings file, environment, unknown account, missing credentials
    ├── InvalidMessage         a message refused before it is enqueued (field, problem, limit)
    ├── InvalidInput           a campaign source or template that cannot be read at all
    ├── TemplateError          a template that is unsafe or names a missing variable
    ├── NotFound               no message or campaign with that id
    ├── Conflict               a request its record's state forbids (resuming a cancelled campaign)
    │   └── IdempotencyConflict  an idempotency key reused for a different message
    └── ServerError            the embedded Redis-compatible server could not be started

Provider answers are not exceptions: adapters return an `Outcome` (sms.providers.base), and the
worker maps each outcome class to one action in exactly one place (worker.actions).
"""

from __future__ import annotations

from dataclasses import dataclass


class SalvoError(Exception):
    """Base of every error Salvo raises on purpose."""


class ConfigError(SalvoError):
    """The settings cannot be used as they are."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one field of a message."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"


class InvalidMessage(SalvoError):
    """A message was refused before anything was enqueued; `problems` says what and where."""

    def __init__(self, problems: list[Problem], where: str = "") -> None:
        self.problems = problems
        self.where = where
        prefix = f"{where}: " if where else ""
        super().__init__(prefix + "; ".join(str(p) for p in problems))


class InvalidInput(SalvoError):
    """A campaign source (CSV, JSONL) cannot be read at all."""


class TemplateError(SalvoError):
    """A message template is unsafe or cannot be filled."""


class NotFound(SalvoError):
    """No record with that id."""


class Conflict(SalvoError):
    """The record's state forbids the request (a cancelled campaign cannot resume)."""


@dataclass(frozen=True, slots=True)
class KeyConflict:
    """One message refused because its idempotency key names another message."""

    index: int  # which message of the request
    key: str
    existing: str  # the id of the message that holds the key

    def __str__(self) -> str:
        return (
            f"idempotency key {self.key!r} already names message {self.existing} "
            "with different content"
        )


class IdempotencyConflict(Conflict):
    """Messages whose idempotency key already names a message with different content; nothing
    was written for them. `ids` is every message's id in order (the holder's for a conflict)."""

    def __init__(self, conflicts: list[KeyConflict], ids: list[str]) -> None:
        self.conflicts = conflicts
        self.ids = ids
        first = conflicts[0]
        where = f"message {first.index}: " if len(ids) > 1 else ""
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        super().__init__(f"{where}{first}{more}")


class ServerError(SalvoError):
    """The embedded Redis-compatible server could not be started or reached."""
