"""The suppression list: scoped per account or global; add, remove, check, import, export."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest
import redis

from producer.api import Producer
from sms.errors import InvalidMessage, NotFound
from sms.message import Message, Status
from sms.optout import AT_RULE, OptOutList, applies
from sms.providers.base import OutcomeKind
from sms.settings import Settings
from sms.times import iso
from tests.helpers import SENDERS
from tests.test_adapters import FACTORIES

A = "+12025550123"
B = "+12025550124"


def account() -> str:
    return "acct-" + uuid.uuid4().hex[:8]


def test_an_opt_out_holds_for_its_own_account_only_by_default(r: redis.Redis) -> None:
    optouts = OptOutList(r)
    one, other = account(), account()
    assert optouts.add(one, A, note="asked by phone")
    assert optouts.suppressed(one, [A, B]) == {A}
    assert optouts.suppressed(other, [A, B]) == set()
    entry = optouts.get(one, A)
    assert entry is not None and (entry.account, entry.source, entry.note) == (
        one,
        "manual",
        "asked by phone",
    )


def test_a_global_opt_out_holds_for_every_account(r: redis.Redis) -> None:
    optouts = OptOutList(r, "global")
    phone = f"+1202555{uuid.uuid4().int % 10000:04d}"
    optouts.add(account(), phone, source="inbound")
    assert optouts.suppressed(account(), [phone]) == {phone}
    assert optouts.remove(account(), phone)
    assert optouts.suppressed(account(), [phone]) == set()


def test_adding_twice_keeps_the_first_and_removing_twice_is_harmless(r: redis.Redis) -> None:
    optouts, name = OptOutList(r), account()
    assert optouts.add(name, A, at=100.0)
    assert not optouts.add(name, A, at=200.0)
    assert optouts.get(name, A).at == 100.0  # type: ignore[union-attr]
    assert optouts.remove(name, A)
    assert not optouts.remove(name, A)
    assert optouts.get(name, A) is None


def test_import_reads_a_phone_column_and_reports_bad_lines(r: redis.Redis) -> None:
    optouts, name = OptOutList(r), account()
    optouts.add(name, B)
    text = f"name,phone,note\nAda,{A},complained\nBob,{B},\nCy,not a number,\n\n"
    report = optouts.import_csv(name, io.StringIO(text))
    assert (report.added, report.already) == (1, 1)
    assert report.invalid == [(4, "'not a number': contains letters")]
    assert optouts.get(name, A).note == "complained"  # type: ignore[union-attr]
    assert optouts.count(name) == 2


def test_import_reads_a_bare_list_of_numbers_with_a_region(r: redis.Redis) -> None:
    optouts, name = OptOutList(r), account()
    report = optouts.import_csv(name, ["(202) 555-0123\n", "202-555-0124\n"], region="US")
    assert report.added == 2 and not report.invalid
    assert optouts.suppressed(name, [A, B]) == {A, B}


def test_export_writes_what_import_reads_back(r: redis.Redis) -> None:
    optouts, name, copy = OptOutList(r), account(), account()
    optouts.add(name, A, note="x", at=1_764_757_227.123)
    optouts.add(name, B, source="inbound", at=1_764_757_300.0)
    out = io.StringIO()
    assert optouts.export_csv(name, out) == 2
    lines = out.getvalue().splitlines()
    assert lines[0] == "phone,account,at,source,note"
    assert f"{A},{name},2025-12-03T10:20:27.123+00:00,manual,x" in lines  # ISO, as every door
    report = optouts.import_csv(copy, io.StringIO(out.getvalue()))
    assert report.added == 2 and not report.invalid
    got = {e.phone: e for e in optouts.entries(copy)}
    assert set(got) == {A, B}
    # When each opted out and why come back; how is the import.
    assert (got[A].at, got[A].note, got[A].source) == (1_764_757_227.123, "x", "import")
    assert got[B].at == 1_764_757_300.0


def test_an_entry_shows_its_time_as_every_door_does(r: redis.Redis) -> None:
    optouts, name = OptOutList(r), account()
    optouts.add(name, A, at=1_764_757_227.5)
    entry = optouts.get(name, A)
    assert entry is not None
    assert entry.as_dict() == {
        "phone": A,
        "account": name,
        "at": iso(1_764_757_227.5),
        "source": "manual",
        "note": "",
    }
    assert entry.as_dict()["at"] == "2025-12-03T10:20:27.500+00:00"


def test_import_reads_old_epoch_times_and_refuses_what_is_not_a_time(r: redis.Redis) -> None:
    optouts, name = OptOutList(r), account()
    c, d = "+12025550125", "+12025550126"
    text = (
        "phone,at\n"
        f"{A},1764757227.25\n"  # epoch seconds, as GET /v1/optouts once gave them
        f"{B},2025-12-03T11:20:27+01:00\n"  # another offset
        f"{c},2025-12-03T10:20:27\n"  # no offset: UTC
        f"{d},yesterday\n"
        "+12025550127,nan\n"
        "+12025550128,\n"  # no time: the import's
    )
    report = optouts.import_csv(name, io.StringIO(text))
    assert report.added == 4
    assert [line for line, _ in report.invalid] == [5, 6]
    assert report.invalid[0][1] == f"at: 'yesterday' is not a time: {AT_RULE}"
    assert optouts.get(name, A).at == 1_764_757_227.25  # type: ignore[union-attr]
    assert optouts.get(name, B).at == 1_764_757_227.0  # type: ignore[union-attr]
    assert optouts.get(name, c).at == 1_764_757_227.0  # type: ignore[union-attr]
    assert optouts.get(name, d) is None
    assert optouts.get(name, "+12025550128").at > 1_764_757_227  # type: ignore[union-attr]


def test_transactional_messages_pass_only_where_the_account_says() -> None:
    assert applies("all", "transactional") and applies("all", "bulk")
    assert applies("bulk", "bulk") and not applies("bulk", "transactional")


# A provider's own opted-out answer (the sandbox's, from the documents) marks the Outcome.

OPTED_OUT_ANSWERS = [
    ("justcall", 422, {"status": "error", "message": "Recipient has opted out of messages"}),
    (
        "carrierx",
        422,
        {"message": "x", "errors": [{"field": "to", "message": "recipient has opted out"}]},
    ),
    ("textingline", 201, {"id": "msg_1", "status": "failed", "errorType": "opted_out"}),
    ("skycore", 200, {"status": "Failure", "error-code": "E715", "error-info": "Not Subscribed"}),
]
OTHER_REFUSALS = [
    ("justcall", 422, {"status": "error", "message": "Destination number is blocked"}),
    ("carrierx", 422, {"message": "x", "errors": [{"field": "to", "message": "invalid number"}]}),
    ("textingline", 201, {"id": "msg_1", "status": "failed", "errorType": "invalid_destination"}),
    ("skycore", 200, {"status": "Failure", "error-code": "E110", "error-info": "Invalid"}),
]


@pytest.mark.parametrize(("provider", "status", "body"), OPTED_OUT_ANSWERS)
def test_a_providers_opted_out_answer_is_marked(provider: str, status: int, body: Any) -> None:
    outcome = FACTORIES[provider]().parse_response(status, {}, json.dumps(body).encode())
    assert outcome.kind is OutcomeKind.REJECTED and outcome.opted_out


@pytest.mark.parametrize(("provider", "status", "body"), OTHER_REFUSALS)
def test_other_refusals_are_not_opt_outs(provider: str, status: int, body: Any) -> None:
    outcome = FACTORIES[provider]().parse_response(status, {}, json.dumps(body).encode())
    assert outcome.kind is OutcomeKind.REJECTED and not outcome.opted_out


def test_import_survives_lines_the_csv_module_refuses(r: redis.Redis) -> None:
    optouts, name = OptOutList(r), account()
    text = f'phone\n{A}\x00\n"unclosed\n{B}\n'
    report = optouts.import_csv(name, io.StringIO(text))
    assert report.added == 1 and optouts.suppressed(name, [A, B]) == {A}
    assert report.invalid and report.invalid[0][0] == 3


def test_send_many_refuses_an_opted_out_number_by_its_place_after_writing_the_chunks_before(
    settings: Settings, unit_url: str
) -> None:
    # The opt-out list is read a chunk (1,000) at a time: the refused message is still named by
    # its place in the whole list, and the chunk before it is written.
    producer = Producer(settings, redis_url=unit_url)
    opted, other = "+12025550198", "+12025550197"
    body = f"chunked {uuid.uuid4().hex[:8]}"
    messages = [
        Message(account="carrierx", to=other, sender=SENDERS["carrierx"], body=body)
        for _ in range(1000)
    ]
    messages.append(Message(account="carrierx", to=opted, sender=SENDERS["carrierx"], body=body))
    producer.optouts.add("carrierx", opted)
    try:
        with pytest.raises(InvalidMessage, match=r"message 1000\b.*opted out"):
            producer.send_many(messages)
        assert producer.status(messages[999].id).status is Status.QUEUED
        with pytest.raises(NotFound):
            producer.status(messages[1000].id)
    finally:
        producer.optouts.remove("carrierx", opted)
        producer.close()
