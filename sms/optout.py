"""The suppression list: numbers that opted out, one list across providers, kept in Redis.

By default an opt-out holds for the account it came through (`optout_scope = "account"`): an
account is one sender or brand, and a STOP answers the sender it was sent to, which is what US
rules (TCPA, CTIA) and the providers scope it to; a deployment that sends for several brands
must not silence one brand because a recipient left another. `optout_scope = "global"` makes
every opt-out hold for every account, for a deployment that is one brand however many provider
accounts it uses. The two lists are apart: changing the scope does not move entries.

An account may let its transactional messages through (`optout_applies_to = "bulk"`); by
default an opt-out suppresses every lane. Each entry says when, how (manual, import, inbound,
provider) and through which account it came. Numbers are E.164 (`sms.phone.parse_e164`).
Every door shows an entry's time as it shows every time (`as_dict`, `row`: ISO 8601 with an
offset, `sms.times.iso`); an import reads that back, or epoch seconds (`parse_at`).
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import IO, Literal, cast

import redis

from sms import keys
from sms.errors import InvalidInput
from sms.phone import InvalidPhoneNumber, parse_e164
from sms.times import iso

Scope = Literal["account", "global"]
Source = Literal["manual", "import", "inbound", "provider"]
#: The columns `export` writes and `import_csv` reads (only `phone` is required; `account` and
#: `source` are the list's and the import's own).
COLUMNS = ("phone", "account", "at", "source", "note")
#: What an imported `at` may be, said when it is neither.
AT_RULE = "ISO 8601 (2026-12-03T10:20:27.123+00:00; UTC without an offset) or epoch seconds"
_SCAN = 1000


def applies(applies_to: str, lane: str) -> bool:
    """Whether opt-outs suppress a message of `lane` for an account with this
    `optout_applies_to` ("all", or "bulk" to let transactional messages through)."""
    return applies_to == "all" or lane == "bulk"


def normalise(number: str, region: str | None = None) -> str:
    """A number as E.164, or InvalidInput saying why it is not one."""
    try:
        return parse_e164(number, region)
    except InvalidPhoneNumber as exc:
        raise InvalidInput(f"{number!r} is not a phone number: {exc.reason}") from None


@dataclass(frozen=True, slots=True)
class OptOut:
    """One number's opt-out: through which account, when, how, and any note."""

    phone: str
    account: str
    at: float
    source: str
    note: str = ""

    def dump(self) -> str:
        """The JSON kept in the list's hash (the phone is the field)."""
        return json.dumps({k: v for k, v in asdict(self).items() if k != "phone"})

    @classmethod
    def load(cls, phone: str, raw: str) -> OptOut:
        """An entry from its hash field and value."""
        data = json.loads(raw)
        return cls(
            phone,
            str(data.get("account", "")),
            float(data.get("at", 0)),
            str(data.get("source", "")),
            str(data.get("note", "")),
        )

    def as_dict(self) -> dict[str, str]:
        """The entry as every door shows it (the HTTP API, `salvo optout list --json`), its
        time ISO 8601 with an offset."""
        return dict(zip(COLUMNS, self.row(), strict=True))

    def row(self) -> list[str]:
        """The entry as a CSV row of COLUMNS (its time ISO 8601, as `as_dict`)."""
        return [self.phone, self.account, iso(self.at), self.source, self.note]


def parse_at(text: str) -> float:
    """An opt-out's time read back from a CSV, as epoch seconds: ISO 8601 as the export writes
    it (UTC when it has no offset), or epoch seconds (as `GET /v1/optouts` once gave it);
    ValueError when it is neither."""
    text = text.strip()
    try:
        epoch = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a time: {AT_RULE}") from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.timestamp()
    if not math.isfinite(epoch) or epoch < 0:
        raise ValueError(f"{text!r} is not a time: {AT_RULE}")
    return epoch


@dataclass
class ImportReport:
    """What an import did: numbers added, ones already on the list, and lines refused."""

    added: int = 0
    already: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


class OptOutList:
    """The suppression list of a deployment, scoped per account or global (`Scope`)."""

    def __init__(self, client: redis.Redis, scope: Scope = "account") -> None:
        self.redis = client
        self.scope = scope

    def key(self, account: str) -> str:
        """The hash that holds `account`'s opt-outs under this scope."""
        return keys.OPTOUTS_GLOBAL if self.scope == "global" else keys.optouts(account)

    def add(
        self,
        account: str,
        phone: str,
        *,
        source: Source = "manual",
        note: str = "",
        at: float | None = None,
    ) -> bool:
        """Opt `phone` (E.164) out; True if it was not on the list already (the first
        opt-out's record is kept)."""
        entry = OptOut(phone, account, time.time() if at is None else at, source, note)
        return bool(self.redis.hsetnx(self.key(account), phone, entry.dump()))

    def remove(self, account: str, phone: str) -> bool:
        """Opt `phone` back in; True if it was on the list."""
        return bool(self.redis.hdel(self.key(account), phone))

    def get(self, account: str, phone: str) -> OptOut | None:
        """`phone`'s opt-out, if it has one."""
        raw = cast(str | None, self.redis.hget(self.key(account), phone))
        return None if raw is None else OptOut.load(phone, raw)

    def suppressed(self, account: str, phones: Sequence[str]) -> set[str]:
        """Which of `phones` opted out, in one round trip."""
        if not phones:
            return set()
        found = cast(list[str | None], self.redis.hmget(self.key(account), list(phones)))
        return {p for p, raw in zip(phones, found, strict=True) if raw is not None}

    def refusals(self, pairs: Sequence[tuple[str, str]]) -> list[str | None]:
        """Why a message to each `phone` through its `account` is refused, if it opted out; in
        one round trip for them all."""
        if not pairs:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for account, phone in pairs:
            pipe.hget(self.key(account), phone)
        found = cast(list[str | None], pipe.execute())
        return [
            None if raw is None else self._refusal(account, OptOut.load(phone, raw))
            for (account, phone), raw in zip(pairs, found, strict=True)
        ]

    def _refusal(self, account: str, entry: OptOut) -> str:
        phone = entry.phone
        of = "every account" if self.scope == "global" else f"account {account!r}"
        query = "" if self.scope == "global" else f"?account={account}"
        return (
            f"{phone} opted out of messages from {of} ({entry.source}, {iso(entry.at)}); "
            f"`salvo optout remove` or DELETE /v1/optouts/{phone}{query} takes it off the list"
        )

    def count(self, account: str) -> int:
        """How many numbers are on `account`'s list."""
        return int(self.redis.hlen(self.key(account)))

    def entries(self, account: str) -> Iterator[OptOut]:
        """Every opt-out on `account`'s list, read a thousand at a time (no order)."""
        for phone, raw in self.redis.hscan_iter(self.key(account), count=_SCAN):
            yield OptOut.load(str(phone), str(raw))

    def import_csv(
        self, account: str, lines: Iterable[str], *, region: str | None = None, note: str = ""
    ) -> ImportReport:
        """Add every number of a CSV: with a header naming a `phone` column (and optionally
        `note` and `at`, when it opted out: what `export_csv` writes reads back), or one number
        per line without a header. A line that is not a number, or whose `at` is not a time,
        is reported with its line number and the rest are added."""
        report = ImportReport()
        reader = csv.reader(line.replace("\0", "") for line in lines)
        column, note_column, at_column = 0, None, None
        batch: list[tuple[str, str, float | None]] = []
        while True:
            index = reader.line_num + 1  # a record's first line (a quoted field may span lines)
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                report.invalid.append((index, f"malformed CSV: {exc}"))
                continue
            if not row or not any(f.strip() for f in row):
                continue
            if index == 1:
                header = [h.strip().lower() for h in row]
                if "phone" in header:
                    column = header.index("phone")
                    note_column = header.index("note") if "note" in header else None
                    at_column = header.index("at") if "at" in header else None
                    continue
            if column >= len(row):
                report.invalid.append((index, "no phone field"))
                continue
            try:
                phone = parse_e164(row[column], region)
            except InvalidPhoneNumber as exc:
                report.invalid.append((index, f"{row[column]!r}: {exc.reason}"))
                continue
            own = row[note_column] if note_column is not None and note_column < len(row) else ""
            written = row[at_column] if at_column is not None and at_column < len(row) else ""
            try:
                at = parse_at(written) if written.strip() else None
            except ValueError as exc:
                report.invalid.append((index, f"at: {exc}"))
                continue
            batch.append((phone, own or note, at))
            if len(batch) >= _SCAN:
                self._add_batch(account, batch, report)
        self._add_batch(account, batch, report)
        return report

    def _add_batch(
        self, account: str, batch: list[tuple[str, str, float | None]], report: ImportReport
    ) -> None:
        if not batch:
            return
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for phone, note, at in batch:
            entry = OptOut(phone, account, now if at is None else at, "import", note)
            pipe.hsetnx(self.key(account), phone, entry.dump())
        for added in pipe.execute():
            if added:
                report.added += 1
            else:
                report.already += 1
        batch.clear()

    def export_csv(self, account: str, out: IO[str]) -> int:
        """Write `account`'s list as CSV (COLUMNS, with a header); returns the number of rows."""
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        rows = 0
        for entry in self.entries(account):
            writer.writerow(entry.row())
            rows += 1
        return rows
